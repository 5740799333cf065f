"""aipartnerupflow: event-sourced, actor-based orchestration of task trees.

Importing the package is cheap and changes nothing in the process: each public name is
imported from its module on first use, and the package's logger gets only a
``NullHandler``, so nothing is printed until the application configures logging.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from aipartnerupflow.version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from aipartnerupflow.actors.context import ExecutionContext, current_execution
    from aipartnerupflow.actors.executor import BaseTask, ExecutableTask
    from aipartnerupflow.actors.registry import (
        ExtensionRegistry,
        TaskPostHook,
        TaskPreHook,
        executor_register,
        get_registry,
        register_post_hook,
        register_pre_hook,
    )
    from aipartnerupflow.errors import (
        AuthError,
        BodyTooLarge,
        CallbackRefused,
        ConcurrencyError,
        DatabaseConfigError,
        DependencyError,
        DependencyFailedError,
        DependencyOutsideRunError,
        DuplicateTaskError,
        ExecutorError,
        ExecutorNotFoundError,
        ImmutableFieldError,
        InputRequired,
        InputTimeoutError,
        InputValidationError,
        InvalidTextError,
        LeaseLostError,
        LimitExceededError,
        PluginError,
        ResultError,
        RpcError,
        RunInterruptedError,
        TaskFlowError,
        TaskNotFoundError,
        TaskRunError,
        TaskStateError,
        TaskValidationError,
        TreeStructureError,
        UpdateRejectedError,
    )
    from aipartnerupflow.events.domain.cause import caused_by
    from aipartnerupflow.events.domain.status import TaskStatus
    from aipartnerupflow.projections.audit import (
        history,
        history_async,
        log_position,
        log_position_async,
        rebuild_projections,
        rebuild_projections_async,
        tree_at,
        tree_at_async,
    )
    from aipartnerupflow.projections.lineage import lineage
    from aipartnerupflow.projections.models import TaskModel
    from aipartnerupflow.projections.replay import diff
    from aipartnerupflow.projections.timeline import timeline
    from aipartnerupflow.projections.tree_node import TaskTreeNode
    from aipartnerupflow.runtime.creator import TaskCreator
    from aipartnerupflow.runtime.fork import fork, fork_async
    from aipartnerupflow.runtime.repository import TaskRepository
    from aipartnerupflow.runtime.session import Database, create_session, get_default_session
    from aipartnerupflow.runtime.streaming import StreamingCallbacks
    from aipartnerupflow.runtime.task_executor import TaskExecutor
    from aipartnerupflow.runtime.task_manager import TaskManager

#: Where each public name lives, by module.
_MODULES: dict[str, tuple[str, ...]] = {
    "actors.context": ("ExecutionContext", "current_execution"),
    "actors.executor": ("BaseTask", "ExecutableTask"),
    "actors.registry": (
        "ExtensionRegistry",
        "TaskPostHook",
        "TaskPreHook",
        "executor_register",
        "get_registry",
        "register_post_hook",
        "register_pre_hook",
    ),
    "errors": (
        "AuthError",
        "BodyTooLarge",
        "CallbackRefused",
        "ConcurrencyError",
        "DatabaseConfigError",
        "DependencyError",
        "DependencyFailedError",
        "DependencyOutsideRunError",
        "DuplicateTaskError",
        "ExecutorError",
        "ExecutorNotFoundError",
        "ImmutableFieldError",
        "InputValidationError",
        "InputRequired",
        "InputTimeoutError",
        "InvalidTextError",
        "LeaseLostError",
        "LimitExceededError",
        "PluginError",
        "ResultError",
        "RpcError",
        "RunInterruptedError",
        "TaskFlowError",
        "TaskNotFoundError",
        "TaskRunError",
        "TaskStateError",
        "TaskValidationError",
        "TreeStructureError",
        "UpdateRejectedError",
    ),
    "events.domain.cause": ("caused_by",),
    "events.domain.status": ("TaskStatus",),
    "projections.audit": (
        "history",
        "history_async",
        "log_position",
        "log_position_async",
        "rebuild_projections",
        "rebuild_projections_async",
        "tree_at",
        "tree_at_async",
    ),
    "projections.lineage": ("lineage",),
    "projections.models": ("TaskModel",),
    "projections.replay": ("diff",),
    "projections.timeline": ("timeline",),
    "projections.tree_node": ("TaskTreeNode",),
    "runtime.creator": ("TaskCreator",),
    "runtime.fork": ("fork", "fork_async"),
    "runtime.repository": ("TaskRepository",),
    "runtime.session": ("Database", "create_session", "get_default_session"),
    "runtime.streaming": ("StreamingCallbacks",),
    "runtime.task_executor": ("TaskExecutor",),
    "runtime.task_manager": ("TaskManager",),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AuthError",
    "BaseTask",
    "BodyTooLarge",
    "CallbackRefused",
    "ConcurrencyError",
    "Database",
    "DatabaseConfigError",
    "DependencyError",
    "DependencyFailedError",
    "DependencyOutsideRunError",
    "DuplicateTaskError",
    "ExecutableTask",
    "ExecutionContext",
    "ExecutorError",
    "ExecutorNotFoundError",
    "ExtensionRegistry",
    "ImmutableFieldError",
    "InputRequired",
    "InputTimeoutError",
    "InputValidationError",
    "InvalidTextError",
    "LeaseLostError",
    "LimitExceededError",
    "PluginError",
    "ResultError",
    "RpcError",
    "RunInterruptedError",
    "StreamingCallbacks",
    "TaskCreator",
    "TaskExecutor",
    "TaskFlowError",
    "TaskManager",
    "TaskModel",
    "TaskNotFoundError",
    "TaskPostHook",
    "TaskPreHook",
    "TaskRepository",
    "TaskRunError",
    "TaskStateError",
    "TaskStatus",
    "TaskTreeNode",
    "TaskValidationError",
    "TreeStructureError",
    "UpdateRejectedError",
    "__version__",
    "caused_by",
    "create_session",
    "current_execution",
    "diff",
    "executor_register",
    "fork",
    "fork_async",
    "get_default_session",
    "get_registry",
    "history",
    "history_async",
    "lineage",
    "log_position",
    "log_position_async",
    "rebuild_projections",
    "rebuild_projections_async",
    "register_post_hook",
    "register_pre_hook",
    "timeline",
    "tree_at",
    "tree_at_async",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# The built-in executors register themselves on import, as 0.9.0's did (cheap: the
# registry and the executor interface only).
import aipartnerupflow.runtime.executors  # noqa: E402, F401  isort: skip
