"""The HTTP server: A2A (JSON-RPC at ``/``), the task API (``/tasks``), ``/system``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import uvicorn
from a2a.server.apps.jsonrpc.jsonrpc_app import CallContextBuilder
from a2a.server.context import ServerCallContext
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from aipartnerupflow.runtime.server.a2a_agent import PushNotifier, TreeAgentExecutor, agent_card
from aipartnerupflow.runtime.server.a2a_app import A2AApplication
from aipartnerupflow.runtime.server.a2a_handler import TreeRequestHandler
from aipartnerupflow.runtime.server.a2a_store import DurablePushConfigStore, DurableTaskStore
from aipartnerupflow.runtime.server.access import Access, RequestUser
from aipartnerupflow.runtime.server.auth import Authenticator, AuthMiddleware
from aipartnerupflow.runtime.server.bodies import BodyLimitMiddleware
from aipartnerupflow.runtime.server.pages import Pages
from aipartnerupflow.runtime.server.task_api import TaskApi
from aipartnerupflow.runtime.server.webhooks import CallbackPolicy
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.task_manager import TaskManager
from aipartnerupflow.runtime.worker import Worker
from aipartnerupflow.version import __version__

DEFAULT_MAX_BODY = 1024 * 1024


class _UserContext(CallContextBuilder):
    def build(self, request: Request) -> ServerCallContext:
        return ServerCallContext(user=RequestUser(request.state.user_id))


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
    manager: TaskManager | None = None,
) -> Starlette:
    """The ASGI app: A2A at ``/`` (agent card at ``/.well-known/agent-card.json``), the
    JSON-RPC task API at ``/tasks`` and ``/system``, a tree's timeline page at
    ``/tasks/{root_id}/timeline`` (``?compare=ROOT`` draws another run beside it). The
    card advertises ``public_url`` (default ``base_url``); callbacks may reach loopback
    and ``allowed_callback_hosts``.
    With ``recover``, interrupted trees resume when the app starts, and trees orphaned or
    queued later are taken while it runs.

    ``manager`` (a ``TaskManager`` of ``db``; one is made when not given) runs every tree
    of the app: the task API's, A2A's and recovery's, so its hooks, executor instances
    and concurrency apply to all of them."""
    manager = manager if manager is not None else TaskManager(db)
    access = Access(enabled=auth_secret is not None)
    policy = CallbackPolicy.of(allowed_callback_hosts)
    client = httpx.AsyncClient()
    push_store = DurablePushConfigStore(db)
    executor = TreeAgentExecutor(db, access, PushNotifier(push_store, client, policy), manager)
    handler = TreeRequestHandler(
        executor, policy, task_store=DurableTaskStore(db, access), push_config_store=push_store
    )
    a2a = A2AApplication(
        agent_card(public_url or base_url, __version__, bearer=auth_secret is not None),
        handler,
        context_builder=_UserContext(),
        max_content_length=max_body,
    )
    api = TaskApi(db, access, policy, client, manager)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keeper = Worker(manager, concurrency=RECOVERY_CONCURRENCY, grace=RECOVERY_GRACE)
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
        Route("/tasks/{root_id:str}/timeline", Pages(db, access).timeline, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    # The last added runs first: bodies over the limit are refused before the token is read.
    app.add_middleware(
        AuthMiddleware, authenticator=Authenticator(auth_secret) if auth_secret else None
    )
    app.add_middleware(BodyLimitMiddleware, max_body=max_body)
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
