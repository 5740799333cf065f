"""The A2A request handler: the SDK's, with this server's rules in front of it.

a2a-sdk 0.3 accepts a message without parts and a negative ``historyLength``; both are
refused here (-32602). Push configs are checked against the callback policy when they are
set, so a config that could never be delivered is refused, not kept. Cancelling goes
through the run (see ``TreeAgentExecutor.cancel_run``), for all three forms: ``tasks/cancel``,
a message on the task with metadata ``cancel: true``, and a message on it with no parts.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.types import (
    InvalidParamsError,
    Message,
    MessageSendParams,
    Task,
    TaskIdParams,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskPushNotificationConfig,
    TaskQueryParams,
    TaskState,
)
from a2a.types import TaskStatus as A2ATaskStatus
from a2a.utils.errors import ServerError

from aipartnerupflow.runtime.server.a2a_agent import TreeAgentExecutor, tasks_of, truthy
from aipartnerupflow.runtime.server.a2a_store import root_of
from aipartnerupflow.runtime.server.access import Access
from aipartnerupflow.runtime.server.webhooks import CallbackPolicy

TERMINAL = (TaskState.completed, TaskState.canceled, TaskState.failed, TaskState.rejected)


def _invalid(message: str) -> ServerError:
    return ServerError(error=InvalidParamsError(message=message))


class TreeRequestHandler(DefaultRequestHandler):
    """``DefaultRequestHandler`` with validation, cancel forms and a busy-run guard."""

    agent_executor: TreeAgentExecutor

    def __init__(self, executor: TreeAgentExecutor, policy: CallbackPolicy, **stores: Any) -> None:
        super().__init__(agent_executor=executor, **stores)
        self.policy = policy

    def _check_url(self, url: str) -> None:
        try:
            self.policy.check(url)
        except ValueError as exc:
            raise _invalid(str(exc)) from None

    # ---------------------------------------------------------------- messages

    async def _route(
        self, params: MessageSendParams, context: ServerCallContext | None
    ) -> Task | None:
        """Answer a message here when it is a cancel or names a busy run; None lets the
        SDK run it."""
        message = params.message
        meta = {**(params.metadata or {}), **(message.metadata or {})}
        config = params.configuration
        if config is not None and config.push_notification_config is not None:
            self._check_url(config.push_notification_config.url)
        if truthy(meta.get("cancel")) or not message.parts:
            target = message.task_id or meta.get("task_id")
            if not isinstance(target, str) or not target:
                raise _invalid(
                    "a message must have at least one part (a message with no parts "
                    "cancels the task its taskId names)"
                )
            reason = meta.get("error_message")
            return await self._cancel(target, reason if isinstance(reason, str) else None, context)
        if message.task_id and message.task_id in self.agent_executor.runs:
            if tasks_of(message) is not None:
                raise _invalid(f"task {message.task_id} already runs a tree; cancel it first")
            return await self.on_get_task(TaskQueryParams(id=message.task_id), context)
        if message.task_id and tasks_of(message) is not None:
            task = await self.task_store.get(message.task_id, context)
            if root_of(task) is not None:
                raise _invalid(f"task {message.task_id} already ran a tree; start a new task")
        return None

    async def on_message_send(
        self, params: MessageSendParams, context: ServerCallContext | None = None
    ) -> Message | Task:
        answer = await self._route(params, context)
        if answer is not None:
            return answer
        return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: MessageSendParams, context: ServerCallContext | None = None
    ) -> AsyncGenerator[Event]:
        answer = await self._route(params, context)
        if answer is not None:
            yield answer
            return
        async for event in super().on_message_send_stream(params, context):
            yield event

    # ------------------------------------------------------------------ tasks

    async def on_get_task(
        self, params: TaskQueryParams, context: ServerCallContext | None = None
    ) -> Task | None:
        if params.history_length is not None and params.history_length < 0:
            raise _invalid("historyLength must not be negative")
        return await super().on_get_task(params, context)

    async def on_cancel_task(
        self, params: TaskIdParams, context: ServerCallContext | None = None
    ) -> Task | None:
        reason = (params.metadata or {}).get("error_message")
        return await self._cancel(params.id, reason if isinstance(reason, str) else None, context)

    async def _cancel(
        self, task_id: str, reason: str | None, context: ServerCallContext | None
    ) -> Task:
        task = await self.task_store.get(task_id, context)
        if task is None:
            raise ServerError(error=TaskNotFoundError())
        if task.status.state in TERMINAL:
            raise ServerError(
                error=TaskNotCancelableError(
                    message=f"task {task_id} is already {task.status.state.value}"
                )
            )
        user = Access.user_of(context)
        message = await self.agent_executor.cancel_run(task, user, reason)
        history = [*(task.history or []), *([task.status.message] if task.status.message else [])]
        cancelled = task.model_copy(
            update={
                "history": history,
                "status": A2ATaskStatus(
                    state=TaskState.canceled,
                    message=message,
                    timestamp=datetime.now(UTC).isoformat(),
                ),
            }
        )
        await self.task_store.save(cancelled, context)
        return cancelled

    async def on_set_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext | None = None
    ) -> TaskPushNotificationConfig:
        if await self.task_store.get(params.task_id, context) is None:
            raise ServerError(error=TaskNotFoundError())
        self._check_url(params.push_notification_config.url)
        return await super().on_set_task_push_notification_config(params, context)
