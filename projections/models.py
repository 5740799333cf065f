"""Read-model tables: what is true now, derived from the event log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, Row, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import manager_of_class
from sqlalchemy.orm.base import DEFAULT_STATE_ATTR

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TASK_COLUMNS, TaskState, column_values, task_state
from aipartnerupflow.events.store.codec import clone_json
from aipartnerupflow.events.store.sqltypes import UTCDateTime

_MUTABLE_FIELDS = ("inputs", "params", "schemas", "dependencies", "result")
_row_values = column_values(TASK_COLUMNS)


class ProjectionBase(DeclarativeBase):
    """Base of every projection table; ``rebuild_projections`` drops and refills them all."""


class TaskModel(ProjectionBase):
    """A task as it is now: one row per task, written only by the projector."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tree_id: Mapped[Any] = mapped_column(Uuid, nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default=TaskStatus.PENDING)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    dependencies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    error_type: Mapped[str | None] = mapped_column(String(255))
    schemas: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    has_children: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    original_task_id: Mapped[str | None] = mapped_column(String(255))
    has_copy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (
        Index("ix_tasks_tree", "tree_id"),
        Index("ix_tasks_parent", "parent_id"),
        Index("ix_tasks_user_created", "user_id", "created_at"),
        Index("ix_tasks_status", "status"),
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> TaskModel:
        """A detached model of a row read from the tasks table."""
        return cls.adopt(task_state(*_row_values(row._asdict())), row.tree_id)

    @classmethod
    def adopt(cls, state: TaskState, tree_id: Any) -> TaskModel:
        """A model that takes ``state`` as its own attributes, without copying it: for a
        state nothing else holds (a tree folded for one answer, never cached)."""
        # Taking the dict whole skips per-attribute instrumentation (and keeps a state's
        # shared keys, see task_state), and SQLAlchemy's per-instance state (four objects
        # the cyclic GC would walk, for each task of a large tree) is left to be made on
        # first use, by __getattr__ below.
        model = cls.__new__(cls)
        state["tree_id"] = tree_id
        model.__dict__ = state
        return model

    @classmethod
    def detached_copy(cls, state: TaskState, tree_id: Any) -> TaskModel:
        """A model of ``state`` whose JSON values are copies: safe to hand to code that
        may mutate them while ``state`` lives on (in a cached tree)."""
        copy = state.copy()
        for key in _MUTABLE_FIELDS:
            copy[key] = clone_json(copy[key])
        return cls.adopt(copy, tree_id)

    def to_dict(self) -> dict[str, Any]:
        """Every column as JSON-friendly values (datetimes as ISO 8601 strings)."""
        data: dict[str, Any] = {}
        for column in ("tree_id", *TASK_COLUMNS):
            value = getattr(self, column)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif column == "tree_id" and value is not None:
                value = str(value)
            data[column] = value
        return data

    def __repr__(self) -> str:
        return f"TaskModel(id={self.id!r}, name={self.name!r}, status={self.status!r})"

    if not TYPE_CHECKING:  # an open __getattr__ would hide misspelt attributes from mypy

        def __getattr__(self, name: str) -> Any:
            # Only a model filled by adopt() (its __dict__ holds columns) gets its state
            # here; a model being constructed must not, or SQLAlchemy's __init__ would take
            # it for an initialised one.
            if name != DEFAULT_STATE_ATTR or not self.__dict__:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
                )
            manager_of_class(type(self)).setup_instance(self)
            return self.__dict__[name]


# adopt() bypasses the constructor, which is what normally configures mappers.
# Only this library's registry: the host's own mappers are the host's to configure.
ProjectionBase.registry.configure()
