"""Request bodies read whole before the app sees them, counted as they stream in, and the
middleware that refuses those over the limit."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aipartnerupflow.errors import BodyTooLarge


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, counted as it streams in (a chunked body declares no
    length); raises BodyTooLarge past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app ``body`` once, then passes on (to see a disconnect)."""
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


class BodyLimitMiddleware:
    """Refuses HTTP requests whose body is over ``max_body`` bytes with 413, whether the
    length is declared (``Content-Length``, refused before anything is read) or only
    counted as the body streams in; the app gets the body whole."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        try:
            if length.isdigit() and int(length) > self.max_body:
                raise BodyTooLarge
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            refusal = JSONResponse({"error": f"request body over {self.max_body} bytes"}, 413)
            await refusal(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)
