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
from .runtime.repository import TaskRepository
from .runtime.session import Database, create_session, get_default_session

__version__ = "0.10.0"

__all__ = [
    "ConcurrencyError",
    "Database",
    "DependencyError",
    "DuplicateTaskError",
    "ImmutableFieldError",
    "TaskCreator",
    "TaskFlowError",
    "TaskModel",
    "TaskNotFoundError",
    "TaskRepository",
    "TaskStateError",
    "TaskStatus",
    "TaskTreeNode",
    "TaskValidationError",
    "TreeStructureError",
    "caused_by",
    "create_session",
    "get_default_session",
    "history",
    "log_position",
    "rebuild_projections",
    "tree_at",
]
