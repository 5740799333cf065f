"""Task status constants."""

from __future__ import annotations


class TaskStatus:
    """The five statuses of a task; plain strings so they compare equal to stored values."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    ALL = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
    ACTIVE = frozenset({PENDING, IN_PROGRESS})

    @staticmethod
    def is_terminal(status: str) -> bool:
        """True for completed, failed and cancelled: the task will not run again by itself."""
        return status in TaskStatus.TERMINAL

    @staticmethod
    def is_active(status: str) -> bool:
        """True for pending and in_progress: the task still has work ahead of it."""
        return status in TaskStatus.ACTIVE
