"""The body-limit and auth middlewares, each alone in front of an echo app and together in
the server, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.server import serving

from aipartnerupflow.runtime.server import create_app, issue_token
from aipartnerupflow.runtime.server.auth import Authenticator, AuthMiddleware
from aipartnerupflow.runtime.server.bodies import BodyLimitMiddleware

SECRET = "a-test-secret-of-at-least-32-bytes!"
LIMIT = 100


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body), "user": getattr(request.state, "user_id", "unset")})


def echo_app(*middleware: Middleware) -> Starlette:
    routes = [Route("/echo", echo, methods=["POST"]), Route("/open", echo, methods=["POST"])]
    return Starlette(routes=routes, middleware=list(middleware))


async def chunks(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * 30  # no Content-Length: only counting the bytes can tell


async def test_body_limit_alone() -> None:
    with serving(echo_app(Middleware(BodyLimitMiddleware, max_body=LIMIT))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            fits = await client.post("/echo", content=b"x" * LIMIT)
            assert fits.json() == {"size": LIMIT, "user": "unset"}
            declared = await client.post("/echo", content=b"x" * (LIMIT + 1))
            assert declared.status_code == 413
            assert declared.json() == {"error": f"request body over {LIMIT} bytes"}
            streamed = await client.post("/echo", content=chunks(4))
            assert streamed.status_code == 413
            assert (await client.post("/echo", content=chunks(3))).json()["size"] == 90


async def test_auth_alone() -> None:
    middleware = Middleware(
        AuthMiddleware, authenticator=Authenticator(SECRET), public_paths=("/open",)
    )
    with serving(echo_app(middleware)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            refused = await client.post("/echo", content=b"x" * 1000)
            assert refused.status_code == 401
            assert refused.json() == {"error": "missing bearer token"}
            assert refused.headers["www-authenticate"] == 'Bearer realm="aipartnerupflow"'
            token = {"Authorization": f"Bearer {issue_token(SECRET, 'alice')}"}
            allowed = await client.post("/echo", content=b"x" * 1000, headers=token)
            assert allowed.json() == {"size": 1000, "user": "alice"}
            assert (await client.post("/open")).json() == {"size": 0, "user": None}


async def test_auth_off_acts_as_nobody() -> None:
    with serving(echo_app(Middleware(AuthMiddleware, authenticator=None))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.post("/echo", content=b"hi")).json() == {"size": 2, "user": None}


async def test_the_server_refuses_large_bodies_before_reading_the_token(db) -> None:
    def app(url: str) -> Starlette:
        return create_app(db, base_url=url, recover=False, auth_secret=SECRET, max_body=LIMIT)

    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.post("/tasks", content=b"x" * (LIMIT + 1))).status_code == 413
            assert (await client.post("/tasks", content=chunks(4))).status_code == 413
            assert (await client.post("/tasks", content=b"{}")).status_code == 401
