"""aipartnerupflow: event-sourced, actor-based orchestration of task trees."""

from .errors import (
    ConcurrencyError,
    DependencyError,
    DuplicateTaskError,
    ImmutableFieldError,
    TaskFlowError,
    TaskNotFoundError,
    TaskStateError,
    TaskValidationError,
    TreeStructureError,
)
from .events.cause import caused_by
from .events.status import TaskStatus
from .projections.audit import history, log_position, rebuild_projections, tree_at
from .projections.models import TaskModel
from .projections.tree_node import TaskTreeNode
from .runtime.creator import TaskCreator
from .runtime.executors import BaseTask, ExecutableTask
from .runtime.registry import (
    ExtensionRegistry,
    TaskPostHook,
    TaskPreHook,
    executor_register,
    get_registry,
    register_post_hook,
    register_pre_hook,
)
from .runtime.repository import TaskRepository
from .runtime.session import Database, create_session, get_default_session
from .runtime.streaming import StreamingCallbacks
from .runtime.task_executor import TaskExecutor
from .runtime.task_manager import TaskManager

__version__ = "0.10.0"

__all__ = [
    "BaseTask",
    "ConcurrencyError",
    "Database",
    "DependencyError",
    "DuplicateTaskError",
    "ExecutableTask",
    "ExtensionRegistry",
    "ImmutableFieldError",
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
    "caused_by",
    "create_session",
    "executor_register",
    "get_default_session",
    "get_registry",
    "history",
    "log_position",
    "rebuild_projections",
    "register_post_hook",
    "register_pre_hook",
    "tree_at",
]
