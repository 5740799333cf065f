"""Request bodies read whole before the app sees them, counted as they stream in."""

from __future__ import annotations

from typing import Any

from starlette.types import Receive

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
