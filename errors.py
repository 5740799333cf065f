"""Typed errors raised by the public API.

Every error caused by bad input is a ``ValueError`` subclass whose message names the
task and the field at fault and says why; raising one never leaves anything in the log.
"""

from __future__ import annotations


class TaskFlowError(Exception):
    """Base class of every error raised by aipartnerupflow."""


class TaskValidationError(TaskFlowError, ValueError):
    """A command was rejected because of bad input; nothing was recorded."""

    def __init__(self, reason: str, *, task_id: str | None = None, field: str | None = None):
        self.task_id = task_id
        self.field = field
        self.reason = reason
        where = []
        if task_id is not None:
            where.append(f"task {task_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


class TaskNotFoundError(TaskValidationError, LookupError):
    """The command names a task that does not exist."""

    def __init__(self, task_id: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(reason or "no such task", task_id=task_id, field=field)


class DuplicateTaskError(TaskValidationError):
    """A task id is supplied twice or already exists."""


class DependencyError(TaskValidationError):
    """A dependency names an unknown task, forms a cycle or may no longer change."""


class TreeStructureError(TaskValidationError):
    """The parent/child structure is not a single tree (several roots, cycles, orphans)."""


class ImmutableFieldError(TaskValidationError):
    """The command tries to change a field that never changes (parent_id, user_id)."""


class TaskStateError(TaskValidationError):
    """The command is not allowed in the task's current status."""


class UpdateRejectedError(TaskValidationError):
    """An update was refused; ``problems`` holds every reason, one typed error per field."""

    def __init__(self, task_id: str, problems: list[TaskValidationError]) -> None:
        self.problems = problems
        field = problems[0].field if len(problems) == 1 else None
        reason = "update refused: " + "; ".join(
            f"field {p.field!r}: {p.reason}" if p.field else p.reason for p in problems
        )
        super().__init__(reason, task_id=task_id, field=field)


class ConcurrencyError(TaskFlowError, RuntimeError):
    """Another writer appended to the same tree first; the command was not recorded."""


class LeaseLostError(TaskFlowError, RuntimeError):
    """This process no longer owns the tree: another one took it over; nothing was recorded."""


class DatabaseConfigError(TaskFlowError, ValueError):
    """The database URL cannot be used: unknown dialect or a driver that is not installed."""
