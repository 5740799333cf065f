"""TaskManager: run task trees, stream their progress, cancel them, recover them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial
from typing import Any, cast
from uuid import UUID

import pykka

from aipartnerupflow.actors import running
from aipartnerupflow.actors.messages import Abandon, Cancel, Start
from aipartnerupflow.actors.ownership import Ownership, Reply, Watcher
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
from aipartnerupflow.actors.waiting import check_input, record_input
from aipartnerupflow.errors import (
    LeaseLostError,
    RunInterruptedError,
    TaskNotFoundError,
    TaskStateError,
)
from aipartnerupflow.events.domain.cause import current_cause
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.store.leases import IDLE, QUEUED, RUNNING, Lease
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.logs import get_logger
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.recovery import RecoveryPlan, missing_executors, plan_recovery
from aipartnerupflow.runtime.repository import TaskRepository, _cause
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.streaming import StreamingCallbacks

DEFAULT_CANCEL_MESSAGE = "Cancelled by user"
#: Seconds between two looks for the owner's answer to a cancel left for it.
ANSWER_POLL = 0.05

log = get_logger("aipartnerupflow.task_manager")


def _settle(answer: asyncio.Future[CancelAnswer], result: CancelAnswer) -> None:
    if not answer.done():
        answer.set_result(result)


def _forward_request(
    supervisor: pykka.ActorRef[Any], kind: str, body: dict[str, Any], reply: Reply
) -> None:
    """A request another process left for this tree's owner."""
    if kind == "cancel":
        supervisor.tell(Cancel(body["task_id"], body["message"], body["cause"], reply))
    else:
        reply({"status": "failed", "message": f"unknown request {kind!r}"})


def _hand_back(ownership: Ownership, lease: Lease, outcome: object) -> None:
    """Release the lease after a run: idle when it ended, queued when it was interrupted,
    untouched when it was lost (the new owner holds it)."""
    if isinstance(outcome, LeaseLostError):
        ownership.unwatch(lease.tree_id)
    else:
        ownership.release(lease, QUEUED if isinstance(outcome, RunInterruptedError) else IDLE)


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
        self._supervisors: dict[UUID, pykka.ActorRef[Any]] = {}

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
        """Run the stored subtree of ``task_tree.task`` until every task in it is terminal,
        or waits for input (see ``run_tree``).

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

    async def run_tree(
        self, root_task_id: str, observer: Observer | None = None, *, lease: Lease | None = None
    ) -> RunSummary:
        """Run the subtree of ``root_task_id``; returns ``{status, progress, root_task_id,
        result, task_count}`` where status is the subtree's derived status.

        A task waiting for input holds what depends on it; once nothing else can run, the
        run returns with status ``waiting`` instead of blocking until the input comes:
        the tree's lease is released (nothing runs, no process holds it) and
        ``provide_input`` runs it again later, in this process or any other.

        The tree's lease is taken first (or ``lease``, already taken by ``claim``): while a
        live owner elsewhere runs the tree this raises ``TaskStateError``; if another
        process takes the tree over mid-run, the run stops and raises ``LeaseLostError``.
        """
        loop = asyncio.get_running_loop()
        tree_id = await self.db.run(self._repository.queries.tree_id_of, root_task_id)
        done: asyncio.Future[RunSummary | BaseException] = loop.create_future()

        def on_done(outcome: RunSummary | BaseException) -> None:
            if not done.done():
                done.set_result(outcome)

        ownership = self.db.ownership
        if lease is None:
            lease = await self.db.run(ownership.acquire, tree_id, root_task_id)
            if lease is None:
                raise TaskStateError("its tree is running in another process", task_id=root_task_id)
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
            lease=lease,
        )
        if not running.claim(tree_id, supervisor):
            # Another run in this process holds the same lease: leave it to that run.
            supervisor.stop(block=False)
            raise TaskStateError("its tree is already running", task_id=root_task_id)
        self._supervisors[tree_id] = supervisor
        ownership.watch(
            Watcher(
                lease,
                on_lost=partial(
                    supervisor.tell,
                    Abandon(LeaseLostError(f"tree {tree_id} was taken over by another owner")),
                ),
                on_request=partial(_forward_request, supervisor),
            )
        )
        interrupted = RunInterruptedError("the run was interrupted")
        outcome: RunSummary | BaseException = interrupted
        try:
            supervisor.tell(Start())
            outcome = await done
        except asyncio.CancelledError:
            # The caller gave up on the run: stop it, and let any process resume it.
            supervisor.tell(Abandon(interrupted))
            raise
        finally:
            self._supervisors.pop(tree_id, None)
            running.release(tree_id)
            await asyncio.shield(self.db.run(_hand_back, ownership, lease, outcome))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def resume(self, root_task_id: str, observer: Observer | None = None) -> RunSummary:
        """Run a tree's unfinished work again: the failed and cancelled tasks of the
        subtree of ``root_task_id`` go back to pending (their attempts count on) and the
        subtree runs; completed tasks keep their results. Like ``run_tree``, it refuses a
        tree that is running here or has a live owner elsewhere (``TaskStateError``)."""
        tree_id = await self.db.run(self._repository.queries.tree_id_of, root_task_id)
        if running.supervisor_of(tree_id) is not None:
            raise TaskStateError("its tree is already running", task_id=root_task_id)
        ownership = self.db.ownership
        lease = await self.db.run(ownership.acquire, tree_id, root_task_id)
        if lease is None:
            raise TaskStateError("its tree is running in another process", task_id=root_task_id)
        cause = {**current_cause(), "reason": "resumed"}
        try:
            await self.db.run(
                self.db.log.run,
                partial(_reset_unfinished, tree_id, root_task_id, cause),
                lease=lease,
            )
        except BaseException:
            await asyncio.shield(self.db.run(ownership.release, lease))
            raise
        return await self.run_tree(root_task_id, observer, lease=lease)

    async def provide_input(
        self, task_id: str, data: Any, observer: Observer | None = None
    ) -> RunSummary:
        """Give a task that waits for input its input, then run its tree again.

        ``data`` is checked against the schema the task recorded when it asked (a typed
        ``TaskValidationError`` and nothing written when it does not fit), recorded under
        the task's ``inputs["input"]`` with the current cause, and the task goes back to
        pending; the whole tree then runs as ``run_tree`` does and its summary is returned
        (``waiting`` again when a task asks for more). ``TaskStateError`` when the task is
        not waiting, its wait timed out, or its tree is running right now.
        """
        task = await self._repository.get_task_by_id(task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        check_input(task.to_dict(), data)
        tree_id = task.tree_id
        if running.supervisor_of(tree_id) is not None:
            raise TaskStateError(
                "its tree is running; give the input once its run ends", task_id=task_id
            )
        root_task_id = await self.db.run(lambda: self.db.log.load(tree_id).root_task_id)
        ownership = self.db.ownership
        before = await self.db.run(ownership.state_of, tree_id)
        lease = await self.db.run(ownership.acquire, tree_id, root_task_id)
        if lease is None:
            raise TaskStateError("its tree is running in another process", task_id=task_id)
        cause = {**_cause(current_cause(), {"user_id": task.user_id}), "reason": "input"}
        try:
            await self.db.run(
                self.db.log.run,
                lambda work: record_input(work.tree(tree_id), task_id, data, cause),
                lease=lease,
            )
        except BaseException:
            # Refused: the tree's lease goes back as it was (a queued tree stays queued).
            await self.db.run(ownership.release, lease, before or IDLE)
            raise
        return await self.run_tree(root_task_id, observer, lease=lease)

    async def submit(self, root_task_id: str) -> None:
        """Queue the tree of ``root_task_id`` for any worker sharing this database."""
        tree_id = await self.db.run(self._repository.queries.tree_id_of, root_task_id)
        await self.db.run(self.db.ownership.enqueue, tree_id, root_task_id)

    async def claim(self, limit: int, skip: set[UUID] | None = None) -> list[Lease]:
        """Take up to ``limit`` queued or orphaned trees whose executors are all here.

        Trees needing executors this process lacks are handed back to the queue and added
        to ``skip`` so that they are not claimed again by this process.
        """
        skip = skip if skip is not None else set()
        ownership = self.db.ownership
        claimed = await self.db.run(ownership.claim, limit, skip)
        usable = []
        for lease in claimed:
            tree = await self.db.run(self.db.log.load, lease.tree_id)
            if missing_executors(tree, lease.root_task_id, self.registry):
                skip.add(lease.tree_id)
                await self.db.run(ownership.release, lease, QUEUED)
            else:
                usable.append(lease)
        return usable

    async def interrupt(self, tree_ids: Iterable[UUID]) -> None:
        """Stop the runs of these trees that this manager runs, recording nothing more;
        their leases go back to the queue so that any process resumes them at once."""
        for tree_id in tree_ids:
            supervisor = self._supervisors.get(tree_id)
            if supervisor is not None:
                supervisor.tell(Abandon(RunInterruptedError("the run was interrupted")))

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
            return await self._cancel_elsewhere(task, message, cause)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[CancelAnswer] = loop.create_future()

        def reply(result: CancelAnswer) -> None:
            loop.call_soon_threadsafe(_settle, answer, result)

        supervisor.tell(Cancel(task_id, message, cause, reply))
        return await answer

    async def _cancel_elsewhere(
        self, task: TaskModel, message: str, cause: dict[str, Any]
    ) -> CancelAnswer:
        """Cancel in a tree this process does not run: ask its live owner, or take the
        lease and record the cancel here when nobody owns the tree."""
        ownership = self.db.ownership
        root_task_id = await self.db.run(lambda: self.db.log.load(task.tree_id).root_task_id)
        while True:
            before = await self.db.run(ownership.state_of, task.tree_id)
            lease = await self.db.run(ownership.acquire, task.tree_id, root_task_id)
            if lease is not None:
                break
            body = {"task_id": task.id, "message": message, "cause": cause}
            answer = await self._ask_owner(task.tree_id, "cancel", body)
            if answer is not None:
                return cast(CancelAnswer, answer)
            # The owner died before answering: its lease expired, so take the tree.
        state = before or IDLE
        try:
            answer, interrupted = await self.db.run(
                self.db.log.run,
                lambda work: self._cancel_idle(work, task, message, cause),
                lease=lease,
            )
            # A queued tree stays queued; one stopped mid-run stays claimable by recovery.
            if state != QUEUED:
                state = RUNNING if interrupted else IDLE
            return answer
        finally:
            await self.db.run(ownership.release, lease, state)

    async def _ask_owner(
        self, tree_id: UUID, kind: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Leave a request for the tree's owner and wait for its answer; None when the
        owner is gone (its lease expired) before answering."""
        ownership = self.db.ownership
        request_id = await self.db.run(ownership.ask, tree_id, kind, body)
        while True:
            await asyncio.sleep(ANSWER_POLL)
            answer = await self.db.run(ownership.answer, request_id)
            if answer is not None:
                return answer
            if await self.db.run(ownership.holder, tree_id) is None:
                return None

    def _cancel_idle(
        self, work: Work, task: TaskModel, message: str, cause: dict[str, Any]
    ) -> tuple[CancelAnswer, bool]:
        """Cancel in a tree nobody runs: record it for every active task in scope.
        Returns the answer and whether some task outside the scope is still in progress
        (the tree stopped mid-run)."""
        tree = work.tree(task.tree_id)
        cause = {**cause, "reason": message}
        victims = [
            tid
            for tid in tree.cancel_scope(task.id)
            if TaskStatus.is_active(tree.tasks[tid]["status"])
        ]
        for victim in victims:
            tree.set_status(victim, TaskStatus.CANCELLED, cause, error=message)
        answer = cancelled(task.id, message, victims)
        interrupted = any(s["status"] == TaskStatus.IN_PROGRESS for s in tree.tasks.values())
        return answer, interrupted

    async def recovery_plan(self) -> RecoveryPlan:
        """The trees ``recover`` would resume now, and those it would skip (with the
        executor ids this process lacks)."""
        return await self.db.run(plan_recovery, self.db, self.registry)

    async def recover(self) -> list[RunSummary]:
        """Resume every tree that stopped mid-run and that nobody owns: completed tasks
        are kept, started ones run again (attempt + 1). Trees with a live owner and trees
        whose executors are not registered here are left alone."""
        plan = await self.recovery_plan()
        for root_task_id, missing in plan.skipped.items():
            log.warning("recovery_skipped", root_task_id=root_task_id, missing_executors=missing)
        outcomes = await asyncio.gather(
            *(self.run_tree(root) for root in plan.resume), return_exceptions=True
        )
        results = []
        for outcome in outcomes:
            if isinstance(outcome, TaskStateError):
                continue  # another process took the tree first
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        return results


def _reset_unfinished(tree_id: UUID, root_task_id: str, cause: dict[str, Any], work: Work) -> int:
    """Put the subtree's failed and cancelled tasks back to pending; returns how many."""
    tree = work.tree(tree_id)
    again = [
        task_id
        for task_id in (root_task_id, *tree.descendant_ids(root_task_id))
        if tree.tasks[task_id]["status"] in (TaskStatus.FAILED, TaskStatus.CANCELLED)
    ]
    for task_id in again:
        tree.set_status(task_id, TaskStatus.PENDING, cause)
    return len(again)
