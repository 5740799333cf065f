"""ChangeRecorder: a running tree's changes, written to the log in group commits.

Changes pile up while the supervisor works through its inbox and are written together,
in one transaction, when it asks (inbox empty, or enough pending): commits are bound by
fsync, so batching them is the main speed lever. What must wait for the changes made so
far to be durable (starting an executor, answering a caller) is queued with ``then`` and
runs only after that commit.

``send`` hands a batch to the database thread without waiting for it, so the supervisor
goes on taking outcomes (and the loop running jobs) while the database writes and
syncs; the next batch goes when this one is in (``arrived``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from uuid import UUID

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.database import LogDatabase
from aipartnerupflow.events.store.leases import Lease
from aipartnerupflow.events.store.log import Work

T = TypeVar("T")

ChangeKind = Literal["start", "progress", "finish", "inputs", "hook_failed", "attempt_failed"]


@dataclass(frozen=True)
class Change:
    """One change of one task; ``apply`` runs on the database thread, inside the commit."""

    task_id: str
    kind: ChangeKind
    cause: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def streamed(self) -> bool:
        """Whether observers hear of it (starts, progress and ends do)."""
        return self.kind in ("start", "progress", "finish")

    def apply(self, tree: TaskTree) -> bool:
        """Apply to the live tree; False when the task's state no longer allows it."""
        state = tree.tasks.get(self.task_id)
        if state is None:
            return False
        status = state["status"]
        if self.kind == "start":
            if status not in TaskStatus.STARTABLE:
                return False
            tree.set_status(self.task_id, TaskStatus.IN_PROGRESS, self.cause, **self.values)
        elif self.kind == "progress":
            if status != TaskStatus.IN_PROGRESS:
                return False
            tree.set_status(self.task_id, TaskStatus.IN_PROGRESS, self.cause, **self.values)
        elif self.kind == "finish":
            # Exactly-once recording: an outcome only ends a task that is still active.
            if status not in TaskStatus.ACTIVE:
                return False
            values = dict(self.values)
            tree.set_status(self.task_id, values.pop("status"), self.cause, **values)
        elif self.kind == "inputs":
            tree.update_field(self.task_id, "inputs", self.values["inputs"], self.cause)
        elif self.kind == "attempt_failed":
            if status != TaskStatus.IN_PROGRESS:
                return False
            values = dict(self.values)
            tree.record_attempt_failure(self.task_id, values.pop("attempt"), self.cause, **values)
        elif self.kind == "hook_failed":
            tree.record_hook_failure(
                self.task_id, self.values["hook"], self.values["error"], self.cause
            )
        return True


class ChangeRecorder:
    """Pending changes of one tree and the actions waiting for them to be committed.

    Not thread-safe: used by its supervisor's thread only. ``on_commit`` gets the changes
    that applied, right after each commit and before the queued actions run.
    """

    def __init__(
        self,
        db: LogDatabase,
        tree_id: UUID,
        on_commit: Callable[[list[Change]], None],
        *,
        flush_every: int = 1000,
        lease: Lease | None = None,
    ) -> None:
        self.db = db
        self.lease = lease
        self.tree_id = tree_id
        self.on_commit = on_commit
        self.flush_every = flush_every
        self._pending: list[Change] = []
        self._actions: list[Callable[[], None]] = []
        # The batch handed to the database thread, with what waits for its commit.
        self._out: tuple[list[Change], list[Callable[[], None]]] | None = None

    def record(self, change: Change) -> None:
        self._pending.append(change)

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every change recorded so far is committed."""
        self._actions.append(action)

    @property
    def due(self) -> bool:
        """Enough changes are pending to commit without waiting for a quiet inbox."""
        return len(self._pending) >= self.flush_every

    @property
    def settled(self) -> bool:
        """Nothing pending, nothing being written and nothing waiting for a commit."""
        return not self._pending and not self._actions and self._out is None

    def flush(self) -> None:
        """Commit the pending changes in one transaction, then run the waiting actions.

        When the commit raises, nothing waiting runs: no executor starts and no caller
        hears of a change the log does not hold.
        """
        if self._pending:
            changes, self._pending = self._pending, []
            applied = self.write(lambda work: self._apply(work.tree(self.tree_id), changes))
            self.on_commit([c for c, ok in zip(changes, applied, strict=True) if ok])
        actions, self._actions = self._actions, []
        for action in actions:
            action()

    def send(self, deliver: Callable[[Future[list[bool]]], None]) -> None:
        """Hand the pending changes to the database thread as one transaction, without
        waiting; ``deliver`` gets its future there, once it is over, and must pass it to
        ``arrived``. One batch at a time: while one is out, the next piles up. With
        nothing pending or out, the waiting actions run now."""
        if self._out is not None:
            return
        if not self._pending:
            actions, self._actions = self._actions, []
            for action in actions:
                action()
            return
        changes, self._pending = self._pending, []
        self._out = (changes, self._actions)
        self._actions = []
        future = self.db.submit(
            self.db.log.run,
            lambda work: self._apply(work.tree(self.tree_id), changes),
            lease=self.lease,
        )
        future.add_done_callback(deliver)

    def arrived(self, future: Future[list[bool]]) -> None:
        """The batch ``send`` handed out is over: report what applied, then run what
        waited for it. Re-raises the transaction's error, and then nothing waiting runs."""
        assert self._out is not None, "no batch is out"
        (changes, actions), self._out = self._out, None
        applied = future.result()
        self.on_commit([c for c, ok in zip(changes, applied, strict=True) if ok])
        for action in actions:
            action()

    def write(self, command: Callable[[Work], T]) -> T:
        """The one place a running tree writes to the log: run ``command`` in a unit of
        work on the database thread and commit what it changed, fenced by the tree's
        lease (``LeaseLostError`` once another process took the tree over)."""
        return self.db.call(self.db.log.run, command, lease=self.lease)

    def discard(self) -> None:
        """Drop what is pending and what waits for it: the tree's run is over."""
        self._pending = []
        self._actions = []
        self._out = None

    @staticmethod
    def _apply(tree: TaskTree, changes: list[Change]) -> list[bool]:
        return [change.apply(tree) for change in changes]
