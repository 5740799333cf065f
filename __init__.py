"""aipartnerupflow: event-sourced, actor-based orchestration of task trees."""

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
    ConcurrencyError,
    DatabaseConfigError,
    DependencyError,
    DuplicateTaskError,
    ImmutableFieldError,
    InvalidTextError,
    LeaseLostError,
    LimitExceededError,
    TaskFlowError,
    TaskNotFoundError,
    TaskStateError,
    TaskValidationError,
    TreeStructureError,
    UpdateRejectedError,
)
from aipartnerupflow.events.domain.cause import caused_by
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.projections.audit import history, log_position, rebuild_projections, tree_at
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
from aipartnerupflow.version import __version__

# The built-in executors register themselves on import, as 0.9.0's did.
import aipartnerupflow.runtime.executors  # noqa: F401  isort: skip


__all__ = [
    "BaseTask",
    "ConcurrencyError",
    "Database",
    "DatabaseConfigError",
    "DependencyError",
    "DuplicateTaskError",
    "ExecutableTask",
    "ExtensionRegistry",
    "ImmutableFieldError",
    "InvalidTextError",
    "LeaseLostError",
    "LimitExceededError",
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
    "TaskStateError",
    "TaskStatus",
    "TaskTreeNode",
    "TaskValidationError",
    "TreeStructureError",
    "UpdateRejectedError",
    "__version__",
    "caused_by",
    "create_session",
    "diff",
    "executor_register",
    "fork",
    "fork_async",
    "get_default_session",
    "get_registry",
    "history",
    "lineage",
    "log_position",
    "rebuild_projections",
    "register_post_hook",
    "register_pre_hook",
    "timeline",
    "tree_at",
]
