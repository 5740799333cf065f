"""A real uvicorn server on 127.0.0.1 (free port) for the HTTP tests, and a callback sink."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` (or ``app(base_url)`` when it is a function) in a background thread;
    yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if callable(app) and not hasattr(app, "router"):
        app = app(url)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def rpc(
    url: str,
    method: str,
    params: Any = None,
    *,
    token: str | None = None,
    path: str = "/tasks",
    timeout: float = 30,
) -> dict[str, Any]:
    """POST one JSON-RPC request; returns the response's body (its ``result`` or ``error``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        response = await client.post(
            path,
            headers=headers,
            json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params or {}},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["id"] == 7
    return body


class CallbackSink:
    """A loopback receiver that records every callback it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []

        async def record(request: Request) -> JSONResponse:
            self.received.append((dict(request.headers), await request.json()))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/callback", record, methods=["POST", "PUT"])])

    async def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            assert time.monotonic() < deadline, f"callbacks so far: {self.received}"
            await asyncio.sleep(0.02)
