"""Optional authentication: HS256 JWT bearer tokens whose subject is the acting user, and
the middleware that puts that user on each request."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import jwt
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aipartnerupflow.errors import AuthError

#: Paths anyone may read, also with authentication on: the agent card.
PUBLIC_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
CHALLENGE = 'Bearer realm="aipartnerupflow"'


@dataclass(frozen=True)
class Authenticator:
    """Verifies ``Authorization: Bearer <jwt>`` signed with ``secret`` (HS256)."""

    secret: str

    def user_of(self, connection: HTTPConnection) -> str:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("missing bearer token")
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], options={"require": ["sub"]}
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise AuthError("invalid token: empty subject")
        return subject


class AuthMiddleware:
    """Puts the acting user in ``request.state.user_id`` (None without authentication).
    With an ``authenticator``, HTTP requests outside ``public_paths`` without a valid
    bearer token are refused with 401 and a ``WWW-Authenticate`` challenge."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator | None,
        public_paths: Collection[str] = PUBLIC_PATHS,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user = None
        if self.authenticator is not None and scope["path"] not in self.public_paths:
            try:
                user = self.authenticator.user_of(HTTPConnection(scope))
            except AuthError as exc:
                refusal = JSONResponse(
                    {"error": str(exc)}, 401, headers={"WWW-Authenticate": CHALLENGE}
                )
                await refusal(scope, receive, send)
                return
        scope.setdefault("state", {})["user_id"] = user
        await self.app(scope, receive, send)


def issue_token(secret: str, user_id: str) -> str:
    """A token for ``user_id`` (for clients and tests)."""
    return jwt.encode({"sub": user_id}, secret, algorithm="HS256")
