"""TaskManager: run task trees, stream their progress, cancel them, recover them."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from sqlalchemy import case, func, select

from aipartnerupflow.actors import running
from aipartnerupflow.actors.messages import Cancel, Start
from aipartnerupflow.actors.registry import ExtensionRegistry, get_registry
from aipartnerupflow.actors.reports import (
    CancelAnswer,
    RunSummary,
    StreamEvent,
    cancel_not_found,
    cancel_refused,
    cancelled,
)
from aipartnerupflow.actors.supervisor import Observer, TreeSupervisor
from aipartnerupflow.errors import TaskStateError
from aipartnerupflow.events.domain.cause import current_cause
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.repository import TaskRepository, _cause
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.streaming import StreamingCallbacks

DEFAULT_CANCEL_MESSAGE = "Cancelled by user"


def _settle(answer: asyncio.Future[CancelAnswer], result: CancelAnswer) -> None:
    if not answer.done():
        answer.set_result(result)


class TaskManager:
    """Runs task trees: one supervisor actor per running tree, executors on this loop."""

    def __init__(
        self,
        db: Database,
        root_task_id: str | None = None,
        pre_hooks: list[Any] | None = None,
        post_hooks: list[Any] | None = None,
        executor_instances: dict[str, Any] | None = None,
        *,
        max_concurrency: int = 64,
        registry: ExtensionRegistry | None = None,
    ) -> None:
        # ``root_task_id`` is accepted as 0.9.0 did; each run's root is the tree it is given.
        self.db = db
        self.pre_hooks = list(pre_hooks or [])
        self.post_hooks = list(post_hooks or [])
        self.executor_instances: dict[str, Any] = (
            executor_instances if executor_instances is not None else {}
        )
        self.max_concurrency = max_concurrency
        self.registry = registry or get_registry()
        self._repository = TaskRepository(db)
        self._streaming = StreamingCallbacks()

    @property
    def task_repository(self) -> TaskRepository:
        """The repository of this manager's database."""
        return self._repository

    @property
    def streaming_callbacks(self) -> StreamingCallbacks:
        """Receives the stream events of ``distribute_task_tree_with_streaming``."""
        return self._streaming

    async def distribute_task_tree(
        self, task_tree: TaskTreeNode, use_callback: bool = True
    ) -> TaskTreeNode:
        """Run the stored subtree of ``task_tree.task`` until every task in it is terminal.

        Order comes from dependencies (then priority, 0 first); ``parent_id`` only
        organises. Completed tasks are not run again. Returns the updated tree.
        """
        await self.run_tree(task_tree.task.id)
        return await self._repository.build_task_tree(task_tree.task.id)

    async def distribute_task_tree_with_streaming(
        self, task_tree: TaskTreeNode, use_callback: bool = True
    ) -> None:
        """Like ``distribute_task_tree``, feeding ``streaming_callbacks`` with every change
        as it commits and a ``final`` event at the end (also when the tree fails).
        ``use_callback=False`` feeds only ``streaming_callbacks.events()`` subscribers."""

        def observe(events: list[StreamEvent]) -> None:
            self._streaming.emit(events, use_callbacks=use_callback)

        await self.run_tree(task_tree.task.id, observer=observe)

    async def run_tree(self, root_task_id: str, observer: Observer | None = None) -> RunSummary:
        """Run the subtree of ``root_task_id``; returns ``{status, progress, root_task_id,
        result, task_count}`` where status is the subtree's derived status."""
        loop = asyncio.get_running_loop()
        tree_id = await self.db.run(self._repository.queries.tree_id_of, root_task_id)
        done: asyncio.Future[RunSummary | BaseException] = loop.create_future()

        def on_done(outcome: RunSummary | BaseException) -> None:
            if not done.done():
                done.set_result(outcome)

        supervisor = TreeSupervisor.start(
            self.db,
            tree_id,
            root_task_id,
            loop,
            registry=self.registry,
            pre_hooks=[*self.registry.pre_hooks, *self.pre_hooks],
            post_hooks=[*self.registry.post_hooks, *self.post_hooks],
            instances=self.executor_instances,
            max_concurrency=self.max_concurrency,
            cause=current_cause(),
            observer=observer,
            on_done=on_done,
        )
        if not running.claim(tree_id, supervisor):
            supervisor.stop(block=False)
            raise TaskStateError("its tree is already running", task_id=root_task_id)
        try:
            supervisor.tell(Start())
            outcome = await done
        finally:
            running.release(tree_id)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def cancel_task(self, task_id: str, error_message: str | None = None) -> CancelAnswer:
        """Cancel a task, its descendants and the tasks that require it.

        Returns ``{"status": "cancelled", "message", ...}`` with ``partial_result`` and
        ``token_usage`` when the executor's ``cancel()`` reports them; ``{"status":
        "failed", ...}`` for an unknown or already finished task.
        """
        message = error_message or DEFAULT_CANCEL_MESSAGE
        task = await self._repository.get_task_by_id(task_id)
        if task is None:
            return cancel_not_found(task_id)
        if TaskStatus.is_terminal(task.status):
            return cancel_refused(task_id, task.status)
        cause = _cause(current_cause(), {"user_id": task.user_id})
        supervisor = running.supervisor_of(task.tree_id)
        if supervisor is None:
            return await self.db.run(
                self.db.log.run, lambda work: self._cancel_idle(work, task, message, cause)
            )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[CancelAnswer] = loop.create_future()

        def reply(result: CancelAnswer) -> None:
            loop.call_soon_threadsafe(_settle, answer, result)

        supervisor.tell(Cancel(task_id, message, cause, reply))
        return await answer

    def _cancel_idle(
        self, work: Work, task: TaskModel, message: str, cause: dict[str, Any]
    ) -> CancelAnswer:
        """Cancel in a tree nobody runs: record it for every active task in scope."""
        tree = work.tree(task.tree_id)
        cause = {**cause, "reason": message}
        victims = [
            tid
            for tid in tree.cancel_scope(task.id)
            if TaskStatus.is_active(tree.tasks[tid]["status"])
        ]
        for victim in victims:
            tree.set_status(victim, TaskStatus.CANCELLED, cause, error=message)
        return cancelled(task.id, message, victims)

    async def recover(self) -> list[RunSummary]:
        """Resume every tree that was interrupted mid-run (some task started, some task
        still active): completed tasks are kept, started ones run again (attempt + 1)."""
        roots = await self.db.run(self._interrupted_roots)
        return list(await asyncio.gather(*(self.run_tree(root) for root in roots)))

    def _interrupted_roots(self) -> list[str]:
        tasks = TaskModel.__table__
        active = func.sum(case((tasks.c.status.in_(TaskStatus.ACTIVE), 1), else_=0))
        begun = func.sum(case((tasks.c.status != TaskStatus.PENDING, 1), else_=0))
        query = select(tasks.c.tree_id).group_by(tasks.c.tree_id).having(active > 0, begun > 0)
        with self.db.connections.begin() as connection:
            tree_ids: list[UUID] = list(connection.execute(query).scalars())
        busy = set(running.running_tree_ids())
        return [
            self.db.log.load(tree_id).root_task_id for tree_id in tree_ids if tree_id not in busy
        ]
