"""What an executor may know about the run it is part of, while ``execute`` runs.

Execution is at least once: after a crash or a takeover a task's executor can be entered
again. ``idempotency_key`` stays the same across those attempts, so an executor can make
its side effects safe to repeat (an external API's idempotency header, a unique key).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionContext:
    """The task being executed, its tree and which attempt this is (1 for the first)."""

    task_id: str
    tree_id: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this task, different for every other task."""
        return f"{self.tree_id}/{self.task_id}"


_current: ContextVar[ExecutionContext | None] = ContextVar(
    "aipartnerupflow_execution", default=None
)


def current_execution() -> ExecutionContext | None:
    """The context of the executor running in this asyncio task, or None outside one."""
    return _current.get()


@contextmanager
def executing(context: ExecutionContext) -> Iterator[None]:
    """Make ``context`` current for the code run inside the ``with`` block."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)
