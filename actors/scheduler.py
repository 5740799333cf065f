"""Scheduler: which tasks of a run may start now. Pure state, no threads, no database.

Rules (see the design's Semantics):

- a task is ready when every dependency, required or optional, is terminal;
- a ready task whose required dependency failed or was cancelled does not run: it fails
  with ``DependencyFailedError`` (and so may fail what requires it in turn);
- a task whose unfinished dependency is not part of the run would wait forever: it fails
  with ``DependencyOutsideRunError``;
- ready tasks start in strict priority order (0 most urgent), then in creation order,
  never more than ``max_concurrency`` at once;
- a task waiting for input is not finished: what depends on it waits too, the rest of
  the run goes on, and the run is done once nothing is ready or running.

The supervisor feeds it what happened (``finish``, ``cancel``) and records what it
answers; the scheduler never sees results, inputs or the log.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aipartnerupflow.errors import (
    DependencyFailedError,
    DependencyOutsideRunError,
    TaskRunError,
)
from aipartnerupflow.events.domain.status import TaskStatus


@dataclass(frozen=True)
class Blocked:
    """A task the scheduler failed without running it, and why."""

    task_id: str
    error: TaskRunError


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did: tasks cancelled at once, running ones to stop, and the tasks
    that failed because a required dependency was cancelled."""

    now: list[str]
    to_stop: list[str]
    blocked: list[Blocked]


class Scheduler:
    """The scheduling state of one run.

    ``tasks`` maps every task id of the tree, in creation order, to a state with
    ``status``, ``priority`` and ``dependencies`` (``[{"id", "required"}]``); ``run_ids``
    are the tasks of this run. Tasks found ``in_progress`` started before a crash with no
    outcome: they run again (at-least-once execution).
    """

    def __init__(
        self,
        tasks: Mapping[str, Mapping[str, Any]],
        run_ids: Sequence[str],
        max_concurrency: int,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.run_ids = list(run_ids)
        self.status: dict[str, str] = {tid: state["status"] for tid, state in tasks.items()}
        self._rank = {task_id: rank for rank, task_id in enumerate(tasks)}
        self._priority = {tid: tasks[tid]["priority"] for tid in self.run_ids}
        # Not copied: a state's values are replaced when they change, never changed in place.
        self._deps = {tid: tasks[tid]["dependencies"] for tid in self.run_ids}
        self._waiting: dict[str, int] = {}  # task id -> dependencies not yet terminal
        self._dependents: dict[str, list[str]] = {}
        self._ready: list[tuple[Any, int, str]] = []
        self.running: set[str] = set()

    # ------------------------------------------------------------------ questions

    @property
    def done(self) -> bool:
        """Nothing of the run is ready or runs. Tasks may still wait for dependencies then,
        but only on tasks waiting for input: nothing else could ever release them."""
        return not (self._ready or self.running)

    # ------------------------------------------------------------------ changes

    def begin(self) -> list[Blocked]:
        """Plan the run; returns the tasks that fail at once because of a dependency."""
        run_set = set(self.run_ids)
        blocked: list[Blocked] = []
        for task_id in self.run_ids:
            if self.status[task_id] == TaskStatus.IN_PROGRESS:
                self.status[task_id] = TaskStatus.PENDING
            if self.status[task_id] != TaskStatus.PENDING:
                continue
            unmet = [
                dep["id"]
                for dep in self._deps[task_id]
                if not TaskStatus.is_terminal(self.status.get(dep["id"], TaskStatus.COMPLETED))
            ]
            outside = next((dep for dep in unmet if dep not in run_set), None)
            if outside is not None:
                error = DependencyOutsideRunError(
                    f"dependency {outside!r} is {self.status[outside]} and not part of this run"
                )
                blocked += self._end(task_id, TaskStatus.FAILED, error)
                continue
            for dep in unmet:
                self._dependents.setdefault(dep, []).append(task_id)
            self._waiting[task_id] = len(unmet)
        for task_id in list(self._waiting):
            if self._waiting.get(task_id) == 0:
                blocked += self._became_ready(task_id)
        return blocked

    def take_ready(self) -> list[str]:
        """The ready tasks that may start now, most urgent first; they count as running."""
        started: list[str] = []
        while self._ready and len(self.running) < self.max_concurrency:
            _, _, task_id = heapq.heappop(self._ready)
            self.running.add(task_id)
            self.status[task_id] = TaskStatus.IN_PROGRESS
            started.append(task_id)
        return started

    def finish(self, task_id: str, status: str) -> list[Blocked]:
        """A running task ended with ``status``; returns the tasks that fail because of it.

        A task that ended ``waiting`` for input releases nothing: its dependents wait on.
        """
        self.running.discard(task_id)
        if status == TaskStatus.WAITING:
            self.status[task_id] = status
            return []
        return self._end(task_id, status)

    def cancel(self, task_ids: Iterable[str]) -> Cancelled:
        """Cancel the active tasks of the run among ``task_ids``.

        Waiting and ready ones are cancelled here and now; running ones stay running (and
        count against the limit) until the supervisor reports them stopped by ``finish``.
        All victims are taken out before any dependent is looked at, so a victim never
        fails because another victim was cancelled.
        """
        victims = [
            tid
            for tid in task_ids
            if tid in self._priority and TaskStatus.is_active(self.status[tid])
        ]
        now = [tid for tid in victims if tid not in self.running]
        for task_id in now:
            self._waiting.pop(task_id, None)
            self.status[task_id] = TaskStatus.CANCELLED
        if now:
            gone = set(now)
            self._ready = [entry for entry in self._ready if entry[2] not in gone]
            heapq.heapify(self._ready)
        blocked = [b for task_id in now for b in self._release_dependents(task_id)]
        return Cancelled(now, [tid for tid in victims if tid in self.running], blocked)

    # ------------------------------------------------------------------ internals

    def _end(self, task_id: str, status: str, error: TaskRunError | None = None) -> list[Blocked]:
        self._waiting.pop(task_id, None)
        self.status[task_id] = status
        blocked = [] if error is None else [Blocked(task_id, error)]
        return blocked + self._release_dependents(task_id)

    def _release_dependents(self, task_id: str) -> list[Blocked]:
        blocked: list[Blocked] = []
        for dependent in self._dependents.pop(task_id, ()):
            if dependent in self._waiting:
                self._waiting[dependent] -= 1
                if self._waiting[dependent] == 0:
                    blocked += self._became_ready(dependent)
        return blocked

    def _became_ready(self, task_id: str) -> list[Blocked]:
        for dep in self._deps[task_id]:
            status = self.status.get(dep["id"])
            if dep["required"] and status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                error = DependencyFailedError(f"required dependency {dep['id']!r} {status}")
                return self._end(task_id, TaskStatus.FAILED, error)
        del self._waiting[task_id]
        heapq.heappush(self._ready, (self._priority[task_id], self._rank[task_id], task_id))
        return []
