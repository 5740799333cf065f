"""Optional authentication: HS256 JWT bearer tokens whose subject is the acting user."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from starlette.requests import HTTPConnection

from aipartnerupflow.errors import AuthError


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


def issue_token(secret: str, user_id: str) -> str:
    """A token for ``user_id`` (for clients and tests)."""
    return jwt.encode({"sub": user_id}, secret, algorithm="HS256")
