"""Typed errors raised by the public API, and the errors a run records for a task.

Every error caused by bad input is a ``ValueError`` subclass whose message names the
task and the field at fault and says why; raising one never leaves anything in the log.

A task that fails records ``error_type`` = the class name of the exception that ended it:
the executor's own exception, or one of the ``TaskRunError`` classes below when the
engine itself decided that the task fails.

Every exception of the package lives here. The hierarchy (built-in bases in brackets;
``tests/test_errors.py`` checks the drawing against the classes):

* TaskFlowError
  * TaskValidationError [ValueError]
    * TaskNotFoundError [LookupError]
    * DuplicateTaskError
    * DependencyError
    * TreeStructureError
    * ImmutableFieldError
    * TaskStateError
    * LimitExceededError
    * InvalidTextError
    * UpdateRejectedError
  * ConcurrencyError [RuntimeError]
  * LeaseLostError [RuntimeError]
  * RunInterruptedError [RuntimeError]
  * DatabaseConfigError [ValueError]
  * PluginError [ImportError]
  * TaskRunError
    * ExecutorNotFoundError [LookupError]
    * InputValidationError [ValueError]
    * DependencyFailedError
    * DependencyOutsideRunError
    * ResultError [ValueError]
    * ExecutorError
    * InputTimeoutError
  * CallbackRefused [ValueError]
  * AuthError
  * BodyTooLarge
  * RpcError
  * InputRequired
"""

from __future__ import annotations

from typing import Any


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


class LimitExceededError(TaskValidationError):
    """A value is beyond a documented limit (length, range, nesting depth or size, see
    ``aipartnerupflow.events.domain.limits``); nothing was recorded."""


class InvalidTextError(TaskValidationError):
    """Text holds a NUL character or an unpaired surrogate, which not every database
    stores; nothing was recorded."""


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
    """Another writer got there first (it appended to the same tree, or held the database
    past the wait for its lock); the command was not recorded and may be tried again."""


class LeaseLostError(TaskFlowError, RuntimeError):
    """This process no longer owns the tree: another one took it over; nothing was recorded."""


class RunInterruptedError(TaskFlowError, RuntimeError):
    """The run stopped before its tree finished (shutdown); any process may resume it."""


class DatabaseConfigError(TaskFlowError, ValueError):
    """The database URL cannot be used: unknown dialect or a driver that is not installed."""


class TaskRunError(TaskFlowError):
    """The engine failed a task of a running tree; recorded as the task's error, never raised
    to the caller of the run."""


class ExecutorNotFoundError(TaskRunError, LookupError):
    """No executor is registered under the name the task asks for."""


class InputValidationError(TaskRunError, ValueError):
    """The task's inputs do not match its executor's input schema."""


class DependencyFailedError(TaskRunError):
    """A required dependency of the task failed or was cancelled."""


class DependencyOutsideRunError(TaskRunError):
    """A dependency is not finished and is not part of this run, so it never will be."""


class InputTimeoutError(TaskRunError):
    """The task waited for input longer than its ``params.input_timeout`` seconds."""


class ResultError(TaskRunError, ValueError):
    """The executor returned a result the log cannot store (not JSON)."""


class ExecutorError(TaskRunError):
    """The executor returned a failed result without naming its own ``error_type``."""


class PluginError(TaskFlowError, ImportError):
    """A module or entry point named for loading executors could not be loaded."""


class CallbackRefused(TaskFlowError, ValueError):
    """A callback (webhook or push) URL or configuration is not allowed."""


class AuthError(TaskFlowError):
    """The request carries no valid bearer token (the server answers 401)."""


class BodyTooLarge(TaskFlowError):
    """A request body went past the server's limit (the server answers 413)."""


class RpcError(TaskFlowError):
    """A JSON-RPC error answer: ``code`` and ``message`` as the protocol defines them, and
    optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class InputRequired(TaskFlowError):
    """Raised by ``execute`` to ask for input: the task waits (status ``waiting``) with
    ``prompt`` and ``schema`` recorded, and runs again once
    ``TaskManager.provide_input`` gives the input, found then under ``inputs["input"]``.

    The same as returning ``{"status": "input_required", "prompt": ..., "schema": ...}``.
    """

    def __init__(self, prompt: Any, schema: dict[str, Any] | None = None) -> None:
        super().__init__(prompt)
        self.prompt = prompt
        self.schema = schema
