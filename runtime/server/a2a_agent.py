"""The A2A face of the server: agent card, agent executor, push sender.

A message carrying tasks (a DataPart ``{"tasks": [...]}`` or the same as JSON text) creates
a tree and runs it as the A2A task; any other message leaves the A2A task waiting for its
tasks (``input-required``), so a conversation can continue on it. A run whose task waits for
input ends ``input-required`` too, listing what is asked; a DataPart ``{"input": ...}`` on
the same task gives it and runs the tree on. Cancelling applies to the run: every
still-active task of its tree is cancelled.

``PushNotificationConfig`` of a2a-sdk 0.3 has no headers, so the sender derives them from
its ``token`` and ``authentication``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import PushNotificationConfigStore
from a2a.server.tasks.task_updater import TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    DataPart,
    HTTPAuthSecurityScheme,
    Message,
    Part,
    SecurityScheme,
    Task,
    TaskNotCancelableError,
    TaskState,
    TextPart,
)
from a2a.types import TaskStatus as A2ATaskStatus
from a2a.utils.errors import ServerError

from aipartnerupflow.actors.reports import StreamEvent
from aipartnerupflow.actors.waiting import check_input
from aipartnerupflow.errors import TaskStateError
from aipartnerupflow.events.domain.cause import caused_by
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.runtime.creator import TaskCreator
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.server.a2a_store import A2A_STATES, ROOT_KEY, root_of
from aipartnerupflow.runtime.server.access import Access
from aipartnerupflow.runtime.server.webhooks import Callback, CallbackPolicy, deliver
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.task_manager import DEFAULT_CANCEL_MESSAGE, TaskManager

PROMPT = (
    'Send the tasks to run on this task: a DataPart {"tasks": [...]} (or the same as JSON '
    "text), each task an object with at least a name and schemas.method naming an executor."
)
EXAMPLE = {"tasks": [{"id": "info", "name": "info", "schemas": {"method": "system_info_executor"}}]}
BEARER = "bearer"


def agent_card(base_url: str, version: str, *, bearer: bool = False) -> AgentCard:
    """The card served at ``/.well-known/agent-card.json`` (and the legacy path); with
    ``bearer`` it declares that requests need an HS256 JWT bearer token."""
    schemes = (
        {BEARER: SecurityScheme(root=HTTPAuthSecurityScheme(scheme="bearer", bearer_format="JWT"))}
        if bearer
        else None
    )
    return AgentCard(
        name="aipartnerupflow",
        description="Runs task trees (dependencies, priorities, executors) and reports "
        "their progress; every change is recorded in an event log.",
        url=base_url.rstrip("/") + "/",
        version=version,
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        default_input_modes=["application/json", "text/plain"],
        default_output_modes=["application/json", "text/plain"],
        security_schemes=schemes,
        security=[{BEARER: []}] if bearer else None,
        skills=[
            AgentSkill(
                id="run_task_tree",
                name="Run a task tree",
                description="Send a DataPart {'tasks': [...]} to create and run a tree; "
                "metadata copy_execution/task_id re-runs a copy. Any other message leaves "
                "the task waiting for its tasks (input-required). tasks/cancel, or a message "
                "on the task with metadata cancel: true (or no parts), cancels the run.",
                tags=["tasks", "orchestration"],
            )
        ],
    )


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1", "yes"))


def _metadata(context: RequestContext) -> dict[str, Any]:
    """Request metadata, overridden by the message's own metadata."""
    message = context.message
    return {**(context.metadata or {}), **((message.metadata if message else None) or {})}


def tasks_of(message: Message | None) -> list[Any] | None:
    """The task array a message carries: a DataPart ``{"tasks": [...]}`` or that as JSON text."""
    for part in message.parts if message else ():
        data = getattr(part.root, "data", None)
        if data is None and isinstance(getattr(part.root, "text", None), str):
            try:
                data = json.loads(part.root.text)  # type: ignore[union-attr]
            except ValueError:
                continue
        if isinstance(data, dict) and isinstance(data.get("tasks"), list) and data["tasks"]:
            return data["tasks"]
    return None


def _data_message(updater: TaskUpdater, data: dict[str, Any]) -> Message:
    return updater.new_agent_message([Part(root=DataPart(data={"protocol": "a2a", **data}))])


_CHANGE_KEYS = ("type", "task_id", "root_task_id", "status", "progress", "error")
_WAITING = (TaskState.working, TaskState.input_required)


def _put_all(queue: asyncio.Queue[dict[str, Any]], items: list[StreamEvent]) -> None:
    for item in items:
        queue.put_nowait(dict(item))


@dataclass
class _Run:
    root_id: str
    queue: EventQueue
    context_id: str


class TreeAgentExecutor(AgentExecutor):
    """Creates (or copies) a tree from the message and runs it with ``manager``, reporting
    each change."""

    def __init__(
        self, db: Database, access: Access, notifier: PushNotifier, manager: TaskManager
    ) -> None:
        self.db = db
        self.manager = manager
        self.access = access
        self.notifier = notifier
        self.creator = TaskCreator(db)
        self.repository = TaskRepository(db)
        self.runs: dict[str, _Run] = {}

    async def _publish(
        self,
        updater: TaskUpdater,
        state: TaskState,
        message: Message,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Send a status to the queue and to push subscribers."""
        final = state not in _WAITING
        await updater.update_status(state, message, final=final, metadata=metadata)
        await self.notifier.push(updater.task_id, updater.context_id, state, message)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None and context.context_id is not None
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        meta = _metadata(context)
        user = Access.user_of(context.call_context)
        try:
            with caused_by(user_id=user, request_id=context.task_id):
                if truthy(meta.get("copy_execution")):
                    original = await self._target(context, meta)
                    await self.access.require(self.db, original, user)
                    node = await self.creator.create_task_copy(
                        original, children=truthy(meta.get("copy_children"))
                    )
                    extra = {"metadata": {"original_task_id": original}}
                elif (tasks := tasks_of(context.message)) is not None:
                    node = await self.creator.create_task_tree_from_array(
                        self.access.claim(tasks, user)
                    )
                    extra = {}
                elif (given := self._input_for(context, meta)) is not None:
                    await self._give_input(context, event_queue, updater, user, *given)
                    return
                else:
                    await self._without_tasks(context, updater)
                    return
        except ValueError as exc:
            error = {"status": "failed", "error": str(exc), "error_type": type(exc).__name__}
            await self._publish(updater, TaskState.failed, _data_message(updater, error))
            return
        await self._run(node.task.id, context, event_queue, updater, user, extra)

    def _input_for(self, context: RequestContext, meta: dict[str, Any]) -> tuple[str, Any] | None:
        """``(root, input)`` when the message gives input (a DataPart ``{"input": ...}``)
        on a task that runs a tree."""
        root = root_of(context.current_task)
        for part in context.message.parts if context.message and root else ():
            data = getattr(part.root, "data", None)
            if isinstance(data, dict) and "input" in data:
                return str(root), data["input"]
        return None

    async def _give_input(
        self,
        context: RequestContext,
        queue: EventQueue,
        updater: TaskUpdater,
        user: str | None,
        root: str,
        data: Any,
    ) -> None:
        """Input for the run's waiting task (the one named by metadata ``task_id`` when
        several wait): checked first, so a refusal leaves the A2A task waiting."""
        named = _metadata(context).get("task_id")
        waiting = [task for task in await self._waiting(root) if named in (None, task.id)]
        try:
            if len(waiting) != 1:
                raise TaskStateError(
                    "no task of this run waits for input"
                    if not waiting
                    else "several tasks wait for input: name one with metadata task_id",
                    task_id=root,
                )
            await self.access.require(self.db, waiting[0].id, user)
            check_input(waiting[0].to_dict(), data)
        except ValueError as exc:
            refused = {
                "status": "input_required",
                "error": str(exc),
                "error_type": type(exc).__name__,
            }
            await self._publish(updater, TaskState.input_required, _data_message(updater, refused))
            return
        await self._run(root, context, queue, updater, user, {}, given=(waiting[0].id, data))

    async def _waiting(self, root: str) -> list[Any]:
        return [
            t
            for t in (await self.repository.build_task_tree(root)).tasks()
            if t.status == TaskStatus.WAITING
        ]

    async def _without_tasks(self, context: RequestContext, updater: TaskUpdater) -> None:
        """A message with no tasks: ask for them, or say which run the task already has."""
        root = root_of(context.current_task)
        if root is None:
            wanted = {"protocol": "a2a", "status": "input_required", "example": EXAMPLE}
            prompt = updater.new_agent_message(
                [Part(root=TextPart(text=PROMPT)), Part(root=DataPart(data=wanted))]
            )
            await self._publish(updater, TaskState.input_required, prompt)
            return
        note = {
            "status": TaskStatus.IN_PROGRESS,
            ROOT_KEY: root,
            "message": "this task already runs a tree; cancel it with tasks/cancel",
        }
        await self._publish(updater, TaskState.working, _data_message(updater, note))

    async def _run(
        self,
        root_id: str,
        context: RequestContext,
        queue: EventQueue,
        updater: TaskUpdater,
        user: str | None,
        extra: dict[str, Any],
        given: tuple[str, Any] | None = None,
    ) -> None:
        """Run the tree of ``root_id`` (giving a waiting task its input first, with
        ``given``) and report each change; a run that ends waiting says for what."""
        assert context.task_id is not None and context.context_id is not None
        self.runs[context.task_id] = _Run(root_id, queue, context.context_id)
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        try:
            started = {"status": TaskStatus.IN_PROGRESS, ROOT_KEY: root_id, **extra}
            await self._publish(
                updater,
                TaskState.working,
                _data_message(updater, started),
                metadata={ROOT_KEY: root_id},
            )
            manager = self.manager
            with caused_by(user_id=user, request_id=context.task_id):
                running = asyncio.create_task(
                    manager.run_tree(root_id, observer=lambda batch: _put_all(events, batch))
                    if given is None
                    else manager.provide_input(*given, lambda batch: _put_all(events, batch))
                )
            # A run that could not start sends no events: stop reading all the same.
            running.add_done_callback(lambda done: events.put_nowait({"type": "final"}))
            while (event := await events.get())["type"] != "final":
                change = {key: event[key] for key in _CHANGE_KEYS if key in event}
                await self._publish(updater, TaskState.working, _data_message(updater, change))
            summary = await running
        finally:
            self.runs.pop(context.task_id, None)
        if summary["status"] == TaskStatus.WAITING:
            asked = [
                {
                    "task_id": t.id,
                    "prompt": t.result.get("prompt"),
                    "schema": t.result.get("schema"),
                }
                for t in await self._waiting(root_id)
                if isinstance(t.result, dict)
            ]
            extra = {**extra, "waiting": asked}
        state = A2A_STATES[summary["status"]]
        await self._publish(updater, state, _data_message(updater, {**summary, **extra}))

    async def _target(self, context: RequestContext, meta: dict[str, Any]) -> str:
        """The task a copy names: the metadata's task_id or context_id, then the message's
        own task_id and context_id; the first that is a stored task."""
        message = context.message
        own = [message.task_id, message.context_id] if message else []
        named = [meta.get("task_id"), meta.get("context_id")]
        candidates = [c for c in named + own if isinstance(c, str) and c]
        if not candidates:
            raise ValueError("copy_execution needs metadata task_id naming the task to copy")
        for candidate in candidates:
            if await self.repository.get_task_by_id(candidate):
                return candidate
        return candidates[0]

    async def cancel_run(self, task: Task, user: str | None, reason: str | None) -> Message:
        """Cancel what the A2A ``task`` runs: every still-active task of its tree (nothing
        when it waits for its tasks). Returns the agent message of the cancelled status and
        ends an open stream of the run with it."""
        reason = reason or DEFAULT_CANCEL_MESSAGE
        answer: dict[str, Any] = {"status": TaskStatus.CANCELLED, "message": reason}
        root = root_of(task)
        if root is not None:
            try:
                await self.access.require(self.db, root, user)
            except ValueError as exc:
                raise ServerError(error=TaskNotCancelableError(message=str(exc))) from None
            with caused_by(user_id=user, request_id=task.id):
                answer.update(await self._cancel_tree(root, reason))
        run = self.runs.get(task.id)
        updater = TaskUpdater(run.queue if run else EventQueue(), task.id, task.context_id)
        message = _data_message(updater, answer)
        if run is not None:
            # The open stream reads the run's queue: end it now, not when the run winds down.
            await self._publish(updater, TaskState.canceled, message)
        else:
            await self.notifier.push(task.id, task.context_id, TaskState.canceled, message)
        return message

    async def _cancel_tree(self, root: str, reason: str) -> dict[str, Any]:
        """Cancel the topmost active tasks of ``root``'s subtree (each takes its descendants
        and dependents along); the root itself may have finished already."""
        tasks = (await self.repository.build_task_tree(root)).tasks()
        active = {t.id for t in tasks if TaskStatus.is_active(t.status)}
        tops = [
            t.id for t in tasks if t.id in active and (t.id == root or t.parent_id not in active)
        ]
        if not tops:
            raise ServerError(
                error=TaskNotCancelableError(message=f"the run of tree {root!r} has finished")
            )
        merged: dict[str, Any] = {ROOT_KEY: root, "cancelled_task_ids": []}
        for task_id in tops:
            answer = await self.manager.cancel_task(task_id, reason)
            if answer["status"] != TaskStatus.CANCELLED:
                continue  # cancelled meanwhile along with an earlier one
            merged["cancelled_task_ids"] += answer.get("cancelled_task_ids", [task_id])
            for key in ("partial_result", "token_usage"):
                if key in answer:
                    merged.setdefault(key, answer[key])
        if "partial_result" in merged:
            merged["result"] = merged["partial_result"]
        return merged

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            raise ServerError(error=TaskNotCancelableError(message="no such task"))
        user = Access.user_of(context.call_context)
        message = await self.cancel_run(task, user, None)
        await TaskUpdater(event_queue, task.id, task.context_id).cancel(message)


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
