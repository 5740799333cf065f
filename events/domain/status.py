"""Task status constants."""

from __future__ import annotations


class TaskStatus:
    """The six statuses of a task; plain strings so they compare equal to stored values.

    ``waiting``: the task's executor asked for input; it runs again once the input is
    provided. It is active (not finished) but never runs by itself.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    ALL = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, WAITING)
    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
    ACTIVE = frozenset({PENDING, IN_PROGRESS, WAITING})
    #: Statuses a run may start a task from.
    STARTABLE = frozenset({PENDING, IN_PROGRESS})

    @staticmethod
    def is_terminal(status: str) -> bool:
        """True for completed, failed and cancelled: the task will not run again by itself."""
        return status in TaskStatus.TERMINAL

    @staticmethod
    def is_active(status: str) -> bool:
        """True for pending, in_progress and waiting: the task still has work ahead of it."""
        return status in TaskStatus.ACTIVE
