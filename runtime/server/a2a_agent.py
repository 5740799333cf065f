"""The A2A face of the server: agent card, task store, agent executor, push sender.

Two defects of a2a-sdk 0.3 are worked around here: ``tasks/cancel`` publishes the
cancelled event on a tapped queue that an open ``message/stream`` never reads (so the
executor also publishes it on the run's own queue), and ``PushNotificationConfig`` has
no headers (so the sender derives them from its ``token`` and ``authentication``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import PushNotificationConfigStore, TaskStore
from a2a.server.tasks.task_updater import TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    DataPart,
    Message,
    Part,
    Task,
    TaskNotCancelableError,
    TaskState,
)
from a2a.types import TaskStatus as A2ATaskStatus
from a2a.utils.errors import ServerError

from aipartnerupflow.actors.reports import StreamEvent
from aipartnerupflow.errors import TaskValidationError
from aipartnerupflow.events.domain.cause import caused_by
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.runtime.creator import TaskCreator
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.server.access import Access
from aipartnerupflow.runtime.server.webhooks import Callback, CallbackPolicy, deliver
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.task_manager import DEFAULT_CANCEL_MESSAGE, TaskManager

A2A_STATES = {
    TaskStatus.PENDING: TaskState.submitted,
    TaskStatus.IN_PROGRESS: TaskState.working,
    TaskStatus.COMPLETED: TaskState.completed,
    TaskStatus.FAILED: TaskState.failed,
    TaskStatus.CANCELLED: TaskState.canceled,
}


def agent_card(base_url: str, version: str) -> AgentCard:
    """The card served at ``/.well-known/agent-card.json`` (and the legacy path)."""
    return AgentCard(
        name="aipartnerupflow",
        description="Runs task trees (dependencies, priorities, executors) and reports "
        "their progress; every change is recorded in an event log.",
        url=base_url.rstrip("/") + "/",
        version=version,
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        default_input_modes=["application/json"],
        default_output_modes=["application/json"],
        skills=[
            AgentSkill(
                id="run_task_tree",
                name="Run a task tree",
                description="Send a DataPart {'tasks': [...]} to create and run a tree; "
                "metadata copy_execution/task_id re-runs a copy; a message naming a "
                "running task cancels it.",
                tags=["tasks", "orchestration"],
            )
        ],
    )


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1", "yes"))


def _metadata(context: RequestContext) -> dict[str, Any]:
    """Request metadata, overridden by the message's own metadata."""
    message = context.message
    return {**(context.metadata or {}), **((message.metadata if message else None) or {})}


def _tasks_of(context: RequestContext) -> list[Any] | None:
    for part in context.message.parts if context.message else ():
        data = getattr(part.root, "data", None)
        if isinstance(data, dict) and data.get("tasks"):
            return data["tasks"]
    return None


def _data_message(updater: TaskUpdater, data: dict[str, Any]):
    return updater.new_agent_message([Part(root=DataPart(data={"protocol": "a2a", **data}))])


_CHANGE_KEYS = ("type", "task_id", "root_task_id", "status", "progress", "error")
_FINISH = {
    TaskState.completed: TaskUpdater.complete,
    TaskState.failed: TaskUpdater.failed,
    TaskState.canceled: TaskUpdater.cancel,
}


def _put_all(queue: asyncio.Queue[dict[str, Any]], items: list[StreamEvent]) -> None:
    for item in items:
        queue.put_nowait(dict(item))


@dataclass
class _Run:
    root_id: str
    queue: EventQueue
    context_id: str


class TreeTaskStore(TaskStore):
    """A2A tasks of this server's runs, plus every stored task looked up by its own id."""

    def __init__(self, db: Database, access: Access, capacity: int = 10_000) -> None:
        self.repository = TaskRepository(db)
        self.access = access
        self.capacity = capacity
        self._tasks: OrderedDict[str, tuple[Task, str | None]] = OrderedDict()

    async def save(self, task: Task, context: Any = None) -> None:
        # The first save of a task is made for the request that created it: its owner.
        owner = self._tasks[task.id][1] if task.id in self._tasks else Access.user_of(context)
        self._tasks[task.id] = (task, owner)
        self._tasks.move_to_end(task.id)
        while len(self._tasks) > self.capacity:
            self._tasks.popitem(last=False)

    async def get(self, task_id: str, context: Any = None) -> Task | None:
        user = Access.user_of(context)
        if task_id in self._tasks:
            task, owner = self._tasks[task_id]
            return task if self.access.may_use(user, owner) else None
        stored = await self.repository.get_task_by_id(task_id)
        if stored is None or not self.access.may_use(user, stored.user_id):
            return None
        return Task(
            id=stored.id,
            context_id=stored.id,
            status=A2ATaskStatus(state=A2A_STATES[stored.status]),
        )

    async def delete(self, task_id: str, context: Any = None) -> None:
        self._tasks.pop(task_id, None)


class TreeAgentExecutor(AgentExecutor):
    """Creates (or copies) a tree from the message and runs it, reporting each change."""

    def __init__(
        self, db: Database, access: Access, policy: CallbackPolicy, notifier: PushNotifier
    ) -> None:
        self.db = db
        self.access = access
        self.policy = policy
        self.notifier = notifier
        self.creator = TaskCreator(db)
        self.repository = TaskRepository(db)
        self.runs: dict[str, _Run] = {}

    async def _publish(self, updater: TaskUpdater, state: TaskState, data: dict[str, Any]) -> None:
        """Send a status (with its DataPart) to the queue and to push subscribers."""
        message = _data_message(updater, data)
        if state == TaskState.working:
            await updater.update_status(state, message)
        else:
            await _FINISH[state](updater, message)
        await self.notifier.push(updater.task_id, updater.context_id, state, message)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None and context.context_id is not None
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        meta = _metadata(context)
        user = Access.user_of(context.call_context)
        try:
            push = context.configuration.push_notification_config if context.configuration else None
            if push is not None:
                self.policy.check(push.url)
            with caused_by(user_id=user, request_id=context.task_id):
                if _truthy(meta.get("copy_execution")):
                    original = await self._target(context, meta, copy=True)
                    await self.access.require(self.db, original, user)
                    node = await self.creator.create_task_copy(
                        original, children=_truthy(meta.get("copy_children"))
                    )
                    extra = {"metadata": {"original_task_id": original}}
                elif (tasks := _tasks_of(context)) is not None:
                    node = await self.creator.create_task_tree_from_array(
                        self.access.claim(tasks, user)
                    )
                    extra = {}
                else:
                    await self._cancel_by_message(context, meta, updater, user)
                    return
        except ValueError as exc:
            error = {"status": "failed", "error": str(exc), "error_type": type(exc).__name__}
            await self._publish(updater, TaskState.failed, error)
            return
        await self._run(node.task.id, context, event_queue, updater, user, extra)

    async def _run(
        self,
        root_id: str,
        context: RequestContext,
        queue: EventQueue,
        updater: TaskUpdater,
        user: str | None,
        extra: dict[str, Any],
    ) -> None:
        assert context.task_id is not None and context.context_id is not None
        self.runs[context.task_id] = _Run(root_id, queue, context.context_id)
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        try:
            started = {"status": TaskStatus.IN_PROGRESS, "root_task_id": root_id, **extra}
            await self._publish(updater, TaskState.working, started)
            with caused_by(user_id=user, request_id=context.task_id):
                running = asyncio.create_task(
                    TaskManager(self.db).run_tree(
                        root_id, observer=lambda batch: _put_all(events, batch)
                    )
                )
            while (event := await events.get())["type"] != "final":
                change = {key: event[key] for key in _CHANGE_KEYS if key in event}
                await self._publish(updater, TaskState.working, change)
            summary = await running
        finally:
            self.runs.pop(context.task_id, None)
        await self._publish(updater, A2A_STATES[summary["status"]], {**summary, **extra})

    async def _target(
        self, context: RequestContext, meta: dict[str, Any], *, copy: bool = False
    ) -> str:
        """The task a message names: the first of its task_id, its context_id, then the
        metadata's task_id and context_id (metadata first for a copy) that is a task."""
        message = context.message
        own = [message.task_id, message.context_id] if message else []
        named = [meta.get("task_id"), meta.get("context_id")]
        candidates = [c for c in (named + own if copy else own + named) if isinstance(c, str) and c]
        if not candidates:
            raise TaskValidationError(
                "the message names no task: send a DataPart {'tasks': [...]}, or a task_id "
                "to cancel (with metadata copy_execution to copy it)"
            )
        for candidate in candidates:
            if candidate in self.runs or await self.repository.get_task_by_id(candidate):
                return candidate
        return candidates[0]

    async def _cancel_by_message(
        self, context: RequestContext, meta: dict[str, Any], updater: TaskUpdater, user: str | None
    ) -> None:
        target = await self._target(context, meta)
        run = self.runs.get(target)
        root = run.root_id if run else target
        await self.access.require(self.db, root, user)
        message = meta.get("error_message") or DEFAULT_CANCEL_MESSAGE
        with caused_by(user_id=user, request_id=context.task_id):
            answer: dict[str, Any] = dict(await TaskManager(self.db).cancel_task(root, message))
        if "partial_result" in answer:
            answer["result"] = answer["partial_result"]
        cancelled = answer["status"] == TaskStatus.CANCELLED
        await self._publish(updater, TaskState.canceled if cancelled else TaskState.failed, answer)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None
        run = self.runs.get(context.task_id)
        root = run.root_id if run else context.task_id
        user = Access.user_of(context.call_context)
        try:
            await self.access.require(self.db, root, user)
        except ValueError as exc:
            raise ServerError(error=TaskNotCancelableError(message=str(exc))) from None
        with caused_by(user_id=user, request_id=context.task_id):
            answer: dict[str, Any] = dict(await TaskManager(self.db).cancel_task(root))
        if answer["status"] != TaskStatus.CANCELLED:
            raise ServerError(error=TaskNotCancelableError(message=answer["message"]))
        if "partial_result" in answer:
            answer["result"] = answer["partial_result"]
        updater = TaskUpdater(event_queue, context.task_id, context.context_id or root)
        await updater.cancel(_data_message(updater, answer))
        if run is not None:
            # The open stream reads the run's own queue, not the tapped one above.
            await self._publish(
                TaskUpdater(run.queue, context.task_id, run.context_id), TaskState.canceled, answer
            )


class PushNotifier:
    """POSTs the task to each configured, allowed URL on every status change.

    Headers come from the config's ``token`` (``X-A2A-Notification-Token``) and its
    ``authentication`` (``Authorization: <scheme> <credentials>``).
    """

    def __init__(
        self, store: PushNotificationConfigStore, client: httpx.AsyncClient, policy: CallbackPolicy
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy

    async def push(self, task_id: str, context_id: str, state: TaskState, message: Message) -> None:
        configs = await self.store.get_info(task_id)
        if not configs:
            return
        task = Task(
            id=task_id, context_id=context_id, status=A2ATaskStatus(state=state, message=message)
        )
        payload = task.model_dump(mode="json", exclude_none=True)
        for config in configs:
            headers: dict[str, str] = {}
            if config.token:
                headers["X-A2A-Notification-Token"] = config.token
            auth = config.authentication
            if auth is not None and auth.credentials:
                scheme = auth.schemes[0] if auth.schemes else "Bearer"
                headers["Authorization"] = f"{scheme} {auth.credentials}"
            try:
                callback = Callback(
                    url=self.policy.check(config.url), headers=headers, max_retries=2
                )
            except ValueError:
                continue
            await deliver(self.client, callback, payload)
