"""Where a fork came from, and how to find the state of a tree at a point of the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, func, select

from aipartnerupflow.errors import TaskNotFoundError, TaskValidationError
from aipartnerupflow.events.domain.fork import TreeForked
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.domain.validation import check_time
from aipartnerupflow.events.store.recorder import events_table
from aipartnerupflow.events.store.topics import topic_of
from aipartnerupflow.projections.models import TaskModel

if TYPE_CHECKING:
    from aipartnerupflow.events.store.database import LogDatabase

_c = events_table.c
_tasks = TaskModel.__table__


@dataclass(frozen=True)
class Point:
    """A tree's stream up to one of its events: the stream, its version there, and
    that event's position in the log."""

    tree_id: UUID
    version: int
    position: int


def check_position(position: Any) -> int | None:
    """A log position given by a caller: a whole number >= 0, or None."""
    if position is None:
        return None
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise TaskValidationError(
            f"must be a log position (a whole number >= 0), got {position!r}", field="position"
        )
    return position


def _position_of(connection: Connection, tree_id: UUID, version: int) -> int:
    query = select(_c.position).where(_c.tree_id == tree_id, _c.version == version)
    return cast(int, connection.execute(query).scalar_one())


def newest_event(
    connection: Connection, tree_id: UUID, position: int | None, at: datetime | None
) -> tuple[int, int] | None:
    """``(version, position)`` of the newest event of the stream at or before
    ``position`` (or time ``at``; without either, the newest), None before its first.

    Versions and positions grow together along a stream, so a position is found by
    bisecting the stream's versions through its (tree_id, version) index: a few dozen
    lookups, where a range filter on position walks every newer event of the stream
    (a million of them for a tree that reported progress for weeks).
    """
    newest = select(func.max(_c.version)).where(_c.tree_id == tree_id)
    if at is not None:
        newest = newest.where(_c.timestamp <= at)
    top = connection.execute(newest).scalar()
    if top is None:
        return None
    top_position = _position_of(connection, tree_id, top)
    if position is None or top_position <= position:
        return top, top_position
    low, high = 0, top  # position of version `low` <= position < that of `high`
    while high - low > 1:
        middle = (low + high) // 2
        if _position_of(connection, tree_id, middle) <= position:
            low = middle
        else:
            high = middle
    return None if low == 0 else (low, _position_of(connection, tree_id, low))


def locate(
    db: LogDatabase, task_id: str, position: int | None = None, at: datetime | None = None
) -> Point:
    """The newest event of ``task_id``'s tree at or before ``position`` (or time ``at``);
    without either, the newest one. Runs on the database thread."""
    if position is not None and at is not None:
        raise TaskValidationError("give position or at, not both")
    position = check_position(position)
    at = check_time(at, None, "at")
    with db.connections.read() as connection:
        named = select(_c.tree_id).where(_c.task_id == task_id)
        if position is not None:
            named = named.where(_c.position <= position)
        tree_id = connection.execute(named.order_by(_c.position.desc()).limit(1)).scalar()
        if tree_id is None:
            raise TaskNotFoundError(task_id, reason="did not exist at that point of the log")
        found = newest_event(connection, tree_id, position, at)
    if found is None:
        raise TaskNotFoundError(task_id, reason="did not exist at that point of the log")
    return Point(tree_id, *found)


def _lineage(db: LogDatabase, root_id: str) -> dict[str, Any] | None:
    with db.connections.read() as connection:
        tree_id = connection.execute(
            select(_tasks.c.tree_id).where(_tasks.c.id == root_id)
        ).scalar()
        if tree_id is None:
            raise TaskNotFoundError(root_id)
        # A fork's lineage is the second event of its stream, right after the creation.
        row = connection.execute(
            select(_c.position, _c.topic, _c.state).where(
                _c.tree_id == tree_id, _c.version == 2, _c.topic == topic_of(TreeForked)
            )
        ).first()
    if row is None:
        return None
    stored = StoredEvent(tree_id, 2, row.topic, bytes(row.state))
    event = cast(TreeForked, db.log.mapper.to_domain_event(stored))
    return {
        "tree_id": str(tree_id),
        "root_task_id": event.task_id,
        "source_tree_id": event.source_tree_id,
        "source_root_id": event.source_root_id,
        "position": event.position,
        "overrides": event.overrides,
        "rerun": event.rerun,
        "cause": dict(event.cause),
        "forked_at": event.timestamp,
        "recorded_at": row.position,
    }


def lineage(db: LogDatabase, root_id: str) -> dict[str, Any] | None:
    """Where the tree of ``root_id`` was forked from (None when it is not a fork):
    ``source_tree_id``, ``source_root_id``, ``position``, ``overrides``, ``rerun``,
    ``cause``, ``forked_at``. Each forked task's ``original_task_id`` names its source."""
    return db.call(_lineage, db, root_id)


def tree_of(db: LogDatabase, root_id: str) -> TaskTree:
    """The current tree holding ``root_id`` (on the database thread)."""
    with db.connections.read() as connection:
        tree_id = connection.execute(
            select(_tasks.c.tree_id).where(_tasks.c.id == root_id)
        ).scalar()
    if tree_id is None:
        raise TaskNotFoundError(root_id)
    return db.log.load(tree_id)
