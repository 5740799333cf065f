"""The methods of the JSON-RPC task API (``POST /tasks``) and of ``POST /system``; the
framing (requests, params, error answers) is in ``jsonrpc``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from aipartnerupflow.actors import running
from aipartnerupflow.actors.reports import StreamEvent
from aipartnerupflow.errors import RpcError, TaskNotFoundError, TaskValidationError
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.projections.audit import history, tree_at
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.replay import diff
from aipartnerupflow.runtime.creator import TaskCreator
from aipartnerupflow.runtime.fork import fork_async
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.server.access import Access
from aipartnerupflow.runtime.server.jsonrpc import (
    INVALID_PARAMS,
    Call,
    Handler,
    dispatch,
    jsonable,
    result_frame,
)
from aipartnerupflow.runtime.server.webhooks import Callback, CallbackPolicy, Deliveries
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.task_manager import TaskManager
from aipartnerupflow.version import __version__


class TaskApi:
    """Dispatches JSON-RPC methods to the repository, the creator and ``manager``, which
    runs and cancels every tree of the API."""

    def __init__(
        self,
        db: Database,
        access: Access,
        policy: CallbackPolicy,
        client: httpx.AsyncClient,
        manager: TaskManager,
    ) -> None:
        self.db = db
        self.manager = manager
        self.access = access
        self.policy = policy
        self.client = client
        self.deliveries = Deliveries(client)
        self.repository = TaskRepository(db)
        self.creator = TaskCreator(db)
        self.methods: dict[str, Handler] = {
            "tasks.create": self.create,
            "tasks.get": self.get,
            "tasks.detail": self.detail,
            "tasks.list": self.list,
            "tasks.tree": self.tree,
            "tasks.children": self.children,
            "tasks.update": self.update,
            "tasks.delete": self.delete,
            "tasks.cancel": self.cancel,
            "tasks.input": self.give_input,
            "tasks.copy": self.copy,
            "tasks.history": self.history,
            "tasks.at": self.at,
            "tasks.fork": self.fork,
            "tasks.diff": self.diff,
            "tasks.running.list": self.running_list,
            "tasks.running.status": self.running_status,
            "tasks.running.count": self.running_count,
        }
        self.system_methods: dict[str, Handler] = {"system.health": self.health}

    # ------------------------------------------------------------- transport

    async def handle_tasks(self, request: Request) -> Response:
        return await dispatch(request, {**self.methods, "tasks.execute": self.execute})

    async def handle_system(self, request: Request) -> Response:
        return await dispatch(request, self.system_methods)

    # ---------------------------------------------------------------- methods

    async def _task(self, call: Call, name: str = "task_id") -> TaskModel:
        """The task named by a parameter, if the acting user may use it."""
        task_id = call.get(name, str)
        await self.access.require(self.db, task_id, call.user)
        task = await self.repository.get_task_by_id(task_id)
        assert task is not None
        return task

    async def create(self, call: Call) -> Any:
        params = call.params  # a list of tasks, {"tasks": [...]}, or one task
        tasks = params["tasks"] if isinstance(params, dict) and "tasks" in params else params
        tasks = [tasks] if isinstance(tasks, dict) else tasks
        node = await self.creator.create_task_tree_from_array(self.access.claim(tasks, call.user))
        return node.to_dict()

    async def get(self, call: Call) -> Any:
        return (await self._task(call)).to_dict()

    async def detail(self, call: Call) -> Any:
        task = await self._task(call)
        node = await self.repository.build_task_tree(task.id)
        dependents = await self.repository.find_dependent_tasks(task.id)
        return {
            **task.to_dict(),
            "children": [c.task.to_dict() for c in node.children],
            "dependent_task_ids": [t.id for t in dependents],
        }

    async def list(self, call: Call) -> Any:
        user_id = call.get("user_id", str, None)
        if self.access.enabled:
            if user_id not in (None, call.user):
                raise RpcError(INVALID_PARAMS, "cannot list another user's tasks")
            user_id = call.user
        status = call.get("status", str, None)
        if status is not None and status not in TaskStatus.ALL:
            raise RpcError(INVALID_PARAMS, f"status must be one of {', '.join(TaskStatus.ALL)}")
        tasks = await self.repository.list_tasks(
            user_id=user_id,
            status=status,
            parent_id=call.get("parent_id", str, None),
            root_only=call.get("root_only", bool, False),
            limit=call.get("limit", int, 100),
            offset=call.get("offset", int, 0),
        )
        return [task.to_dict() for task in tasks]

    async def tree(self, call: Call) -> Any:
        task = await self._task(call)
        root = await self.repository.get_root_task(task)
        return (await self.repository.build_task_tree(root)).to_dict()

    async def children(self, call: Call) -> Any:
        task = await self._task(call)
        return [c.task.to_dict() for c in (await self.repository.build_task_tree(task)).children]

    async def update(self, call: Call) -> Any:
        task = await self._task(call)
        changes = {k: v for k, v in call.params.items() if k != "task_id"}
        if not changes:
            raise RpcError(INVALID_PARAMS, "nothing to update")
        return (await self.repository.update_task(task.id, **changes)).to_dict()

    async def delete(self, call: Call) -> Any:
        task = await self._task(call)
        subtree = (await self.repository.build_task_tree(task)).tasks()
        busy = [t.id for t in subtree if t.status != TaskStatus.PENDING]
        if busy:
            raise TaskValidationError(
                f"can only delete pending tasks; {busy[0]!r} is not",
                task_id=task.id,
                field="status",
            )
        await self.repository.delete_task(task.id)
        return {"success": True, "deleted_task_ids": [t.id for t in subtree]}

    async def cancel(self, call: Call) -> Any:
        task_ids = call.get("task_ids", list)
        message = call.get("error_message", str, None)
        results = []
        for task_id in task_ids:
            try:
                await self.access.require(self.db, str(task_id), call.user)
            except TaskNotFoundError as exc:
                results.append(
                    {
                        "task_id": task_id,
                        "status": "failed",
                        "message": str(exc),
                        "error": "not_found",
                    }
                )
                continue
            results.append({"task_id": task_id, **await self.manager.cancel_task(task_id, message)})
        return results

    async def give_input(self, call: Call) -> Any:
        task = await self._task(call)
        if "input" not in call.params:
            raise RpcError(INVALID_PARAMS, "missing parameter 'input'")
        summary = await self.manager.provide_input(task.id, call.params["input"])
        return {"success": True, "protocol": "jsonrpc", **summary}

    async def copy(self, call: Call) -> Any:
        task = await self._task(call)
        node = await self.creator.create_task_copy(task, call.get("children", bool, False))
        return node.to_dict()

    async def history(self, call: Call) -> Any:
        task = await self._task(call)
        return await self.db.run(history, self.db, task.id)

    async def at(self, call: Call) -> Any:
        task = await self._task(call)
        moment = self._moment(call)
        node = await self.db.run(tree_at, self.db, task.id, call.get("position", int, None), moment)
        return node.to_dict()

    def _moment(self, call: Call) -> datetime | None:
        at = call.get("at", str, None)
        try:
            return datetime.fromisoformat(at) if at else None
        except ValueError:
            raise RpcError(INVALID_PARAMS, f"'at' is not an ISO 8601 datetime: {at!r}") from None

    async def fork(self, call: Call) -> Any:
        task = await self._task(call)
        overrides = call.get("overrides", dict, None)
        rerun = call.get("rerun", list, None)
        position = call.get("position", int, None)
        moment = self._moment(call)
        node = await fork_async(self.db, task.id, position, moment, overrides, rerun)
        return node.to_dict()

    async def diff(self, call: Call) -> Any:
        task = await self._task(call)
        other = await self._task(call, "other_task_id")
        return jsonable(await self.db.run(diff, self.db, task.id, other.id))

    async def _running_roots(self, call: Call) -> Sequence[Any]:
        roots = []
        for tree_id in running.running_tree_ids():
            root_id = await self.db.run(
                lambda tree_id=tree_id: self.db.log.load(tree_id).root_task_id
            )
            task = await self.repository.get_task_by_id(root_id)
            if task is not None and self.access.may_use(call.user, task.user_id):
                roots.append(task)
        return roots

    async def running_list(self, call: Call) -> Any:
        return [task.to_dict() for task in await self._running_roots(call)]

    async def running_status(self, call: Call) -> Any:
        statuses = []
        for task_id in call.get("task_ids", list):
            task = await self.repository.get_task_by_id(str(task_id))
            if task is None or not self.access.may_use(call.user, task.user_id):
                statuses.append({"task_id": task_id, "status": "not_found"})
            else:
                statuses.append(
                    {"task_id": task_id, "status": task.status, "progress": task.progress}
                )
        return statuses

    async def running_count(self, call: Call) -> Any:
        return {"count": len(await self._running_roots(call))}

    async def health(self, call: Call) -> Any:
        await self.repository.list_tasks(limit=1)
        return {
            "status": "healthy",
            "version": __version__,
            "database": "ok",
            "running_trees": len(running.running_tree_ids()),
        }

    # -------------------------------------------------------------- execution

    async def execute(self, call: Call) -> Any:
        # Every parameter is checked before anything is written.
        config = call.get("webhook_config", dict, None)
        callback = Callback.from_config(config, self.policy) if config else None
        streaming = call.get("use_streaming", bool, False)
        background = call.get("background", bool, False)
        if background and (streaming or callback is not None):
            raise RpcError(
                INVALID_PARAMS, "a background run answers at once: no use_streaming or webhook"
            )
        if isinstance(call.params, dict) and call.params.get("tasks") is not None:
            node = await self.creator.create_task_tree_from_array(
                self.access.claim(call.params["tasks"], call.user)
            )
            root = node.task
        else:
            root = await self._task(call)
        if background:
            # Queued for any process on this database: this server's own recovery loop
            # or any `aipartnerupflow worker`.
            await self.manager.submit(root.id)
            return {
                "success": True,
                "protocol": "jsonrpc",
                "status": "queued",
                "root_task_id": root.id,
            }
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def observe(batch: list[StreamEvent]) -> None:
            for event in batch:
                events.put_nowait(dict(event))

        run = asyncio.create_task(self.manager.run_tree(root.id, observer=observe))

        def ended(done: asyncio.Task[Any]) -> None:
            # A run that could not start sends no events: end the stream all the same.
            if not done.cancelled() and done.exception() is not None:
                events.put_nowait(
                    {
                        "type": "final",
                        "status": TaskStatus.FAILED,
                        "root_task_id": root.id,
                        "error": str(done.exception()),
                    }
                )

        run.add_done_callback(ended)
        if streaming:
            return EventSourceResponse(self._sse(call.request_id, events, callback))
        async for _ in self._events(events, callback):
            pass
        summary = await run
        return {"success": True, "protocol": "jsonrpc", **summary}

    async def _events(
        self, events: asyncio.Queue[dict[str, Any]], callback: Callback | None
    ) -> AsyncIterator[dict[str, Any]]:
        """The run's events up to the final one, each also queued for the webhook."""
        while True:
            event = await events.get()
            if callback is not None:
                self.deliveries.send(callback, jsonable(event))
            yield event
            if event["type"] == "final":
                return

    async def _sse(
        self, request_id: Any, events: asyncio.Queue[dict[str, Any]], callback: Callback | None
    ) -> AsyncIterator[dict[str, str]]:
        async for event in self._events(events, callback):
            yield {"data": json.dumps(result_frame(request_id, event))}
