"""The HTTP server: A2A (JSON-RPC at ``/``), the task API (``/tasks``), ``/system``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import uvicorn
from a2a.server.apps.jsonrpc.jsonrpc_app import CallContextBuilder
from a2a.server.context import ServerCallContext
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from aipartnerupflow.errors import AuthError, BodyTooLarge
from aipartnerupflow.runtime.server.a2a_agent import PushNotifier, TreeAgentExecutor, agent_card
from aipartnerupflow.runtime.server.a2a_app import A2AApplication
from aipartnerupflow.runtime.server.a2a_handler import TreeRequestHandler
from aipartnerupflow.runtime.server.a2a_store import DurablePushConfigStore, DurableTaskStore
from aipartnerupflow.runtime.server.access import Access, RequestUser
from aipartnerupflow.runtime.server.auth import Authenticator
from aipartnerupflow.runtime.server.bodies import read_body, replay
from aipartnerupflow.runtime.server.task_api import TaskApi
from aipartnerupflow.runtime.server.webhooks import CallbackPolicy
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.task_manager import TaskManager
from aipartnerupflow.runtime.worker import Worker
from aipartnerupflow.version import __version__

DEFAULT_MAX_BODY = 1024 * 1024
#: Paths anyone may read, also with authentication on: the agent card.
PUBLIC_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
CHALLENGE = b'Bearer realm="aipartnerupflow"'


class _UserContext(CallContextBuilder):
    def build(self, request: Request) -> ServerCallContext:
        return ServerCallContext(user=RequestUser(request.state.user_id))


async def _reply(
    send: Send, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Gatekeeper:
    """Refuses bodies over ``max_body`` bytes (413), declared or streamed, and, with
    authentication on, requests without a valid bearer token (401 with a
    ``WWW-Authenticate`` challenge); puts the acting user in ``request.state``."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator | None, max_body: int) -> None:
        self.app = app
        self.authenticator = authenticator
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_body} bytes"
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _reply(send, 413, too_large)
            return
        user = None
        if self.authenticator is not None and scope["path"] not in PUBLIC_PATHS:
            try:
                user = self.authenticator.user_of(Request(scope))
            except AuthError as exc:
                await _reply(send, 401, str(exc), [(b"www-authenticate", CHALLENGE)])
                return
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            await _reply(send, 413, too_large)
            return
        scope.setdefault("state", {})["user_id"] = user
        await self.app(scope, replay(body, receive), send)


#: Trees the server resumes at once, and seconds they get to finish at shutdown.
RECOVERY_CONCURRENCY = 8
RECOVERY_GRACE = 5.0


async def _resume(keeper: Worker) -> None:
    """Resume what stopped mid-run, then keep taking trees whose owner died (their lease
    expires while this server runs) or that were queued for any process."""
    await keeper.manager.recover()
    await keeper.run()


def create_app(
    db: Database,
    *,
    auth_secret: str | None = None,
    base_url: str = "http://127.0.0.1:8000",
    public_url: str | None = None,
    allowed_callback_hosts: Iterable[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    recover: bool = True,
) -> Starlette:
    """The ASGI app: A2A at ``/`` (agent card at ``/.well-known/agent-card.json``), the
    JSON-RPC task API at ``/tasks`` and ``/system``. The card advertises ``public_url``
    (default ``base_url``); callbacks may reach loopback and ``allowed_callback_hosts``.
    With ``recover``, interrupted trees resume when the app starts, and trees orphaned or
    queued later are taken while it runs."""
    access = Access(enabled=auth_secret is not None)
    policy = CallbackPolicy.of(allowed_callback_hosts)
    client = httpx.AsyncClient()
    push_store = DurablePushConfigStore(db)
    executor = TreeAgentExecutor(db, access, PushNotifier(push_store, client, policy))
    handler = TreeRequestHandler(
        executor, policy, task_store=DurableTaskStore(db, access), push_config_store=push_store
    )
    a2a = A2AApplication(
        agent_card(public_url or base_url, __version__, bearer=auth_secret is not None),
        handler,
        context_builder=_UserContext(),
        max_content_length=max_body,
    )
    api = TaskApi(db, access, policy, client)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keeper = Worker(TaskManager(db), concurrency=RECOVERY_CONCURRENCY, grace=RECOVERY_GRACE)
        resuming = asyncio.create_task(_resume(keeper)) if recover else None
        yield
        if resuming is not None:
            keeper.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(resuming, RECOVERY_GRACE + 5)
        await client.aclose()

    routes = [
        *a2a.routes(),
        Route("/tasks", api.handle_tasks, methods=["POST"]),
        Route("/system", api.handle_system, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        Gatekeeper,
        authenticator=Authenticator(auth_secret) if auth_secret else None,
        max_body=max_body,
    )
    return app


def run_server(
    db: Database,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    auth_secret: str | None = None,
    **options: Any,
) -> None:
    """Serve ``create_app(db, ...)`` with uvicorn until interrupted."""
    app = create_app(db, auth_secret=auth_secret, base_url=f"http://{host}:{port}", **options)
    uvicorn.run(app, host=host, port=port, log_level="warning")
