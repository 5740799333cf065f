"""Audit and time travel: what happened to a task or tree, and how a tree looked at any point."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import func, select

from aipartnerupflow.errors import TaskNotFoundError, TaskValidationError
from aipartnerupflow.events.domain.tree import TaskTree, apply_event
from aipartnerupflow.events.store.recorder import events_table
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.projector import rebuild_projections as _rebuild
from aipartnerupflow.projections.tree_node import TaskTreeNode, build_nodes

if TYPE_CHECKING:
    from aipartnerupflow.events.store.database import LogDatabase

_c = events_table.c


def _as_uuid(tree_id: UUID | str) -> UUID:
    try:
        return tree_id if isinstance(tree_id, UUID) else UUID(str(tree_id))
    except ValueError:
        raise TaskValidationError(f"is not a tree id: {tree_id!r}", field="tree_id") from None


def _tree_of_task(db: LogDatabase, task_id: str, position: int | None = None) -> UUID:
    """The tree that held ``task_id`` (the latest one, if the id was ever reused)."""
    query = select(_c.tree_id).where(_c.task_id == task_id)
    if position is not None:
        query = query.where(_c.position <= position)
    with db.connections.begin() as connection:
        tree_id = connection.execute(query.order_by(_c.position.desc()).limit(1)).scalar()
    if tree_id is None:
        raise TaskNotFoundError(task_id, reason="no event in the log names this task")
    return tree_id


def _describe(
    event: Any, position: int, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    changes = {
        field: {"old": None if before is None else before.get(field), "new": value}
        for field, value in (after or {}).items()
        if before is None or before.get(field) != value
    }
    if after is None and before is not None:
        changes = {field: {"old": value, "new": None} for field, value in before.items()}
    return {
        "position": position,
        "tree_id": str(event.originator_id),
        "version": event.originator_version,
        "task_id": event.task_id,
        "type": event.kind,
        "schema_version": getattr(type(event), "class_version", 1),
        "timestamp": event.timestamp,
        "cause": dict(event.cause),
        "changes": changes,
    }


def _history(
    db: LogDatabase, task_id: str | None, tree_id: UUID | str | None
) -> list[dict[str, Any]]:
    if (task_id is None) == (tree_id is None):
        raise TaskValidationError("give exactly one of task_id and tree_id")
    stream = _tree_of_task(db, task_id) if task_id is not None else _as_uuid(cast(str, tree_id))
    query = (
        select(_c.position, _c.version, _c.topic, _c.state)
        .where(_c.tree_id == stream)
        .order_by(_c.version)
    )
    with db.connections.begin() as connection:
        rows = connection.execute(query).all()
    to_domain_event = db.log.mapper.to_domain_event
    tree: TaskTree | None = None
    entries = []
    for position, version, topic, state in rows:
        event = to_domain_event(StoredEvent(stream, version, topic, state))
        if not isinstance(event, TaskTree.TaskEvent):
            tree = apply_event(event, tree)
            if task_id is None:
                entries.append(_describe(event, position, None, None))
            continue
        # A task event never comes first: the tree's creation precedes it.
        assert tree is not None
        before = _copy(tree.tasks.get(event.task_id))
        tree = apply_event(event, tree)
        if task_id is None or event.task_id == task_id:
            entries.append(_describe(event, position, before, _copy(tree.tasks.get(event.task_id))))
    return entries


def _copy(state: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if state is None else dict(state)


def history(
    db: LogDatabase, task_id: str | None = None, tree_id: UUID | str | None = None
) -> list[dict[str, Any]]:
    """Every event of a task (or of a whole tree), oldest first.

    Each entry has ``position`` (in the log), ``tree_id``, ``version``, ``task_id``,
    ``type``, ``schema_version``, ``timestamp``, ``cause`` and ``changes``
    (``{field: {"old": ..., "new": ...}}``). Deleted tasks keep their history.
    """
    return db.call(_history, db, task_id, tree_id)


async def history_async(
    db: LogDatabase, task_id: str | None = None, tree_id: UUID | str | None = None
) -> list[dict[str, Any]]:
    """``history`` for async code: runs on the database worker, the event loop goes on."""
    return await db.run(_history, db, task_id, tree_id)


def _tree_at(
    db: LogDatabase, root_id: str, position: int | None, at: datetime | None
) -> TaskTreeNode:
    if position is not None and at is not None:
        raise TaskValidationError("give position or at, not both")
    stream = _tree_of_task(db, root_id, position)
    query = select(func.max(_c.version)).where(_c.tree_id == stream)
    if position is not None:
        query = query.where(_c.position <= position)
    if at is not None:
        query = query.where(_c.timestamp <= at)
    with db.connections.begin() as connection:
        version = connection.execute(query).scalar()
    tree = None if version is None else db.log.load_at(stream, version)
    if tree is None or root_id not in tree.tasks:
        raise TaskNotFoundError(root_id, reason="did not exist at that point of the log")
    ids = [root_id, *tree.descendant_ids(root_id)]
    models = {tid: TaskModel.from_state(tree.tasks[tid], stream) for tid in ids}
    return build_nodes(root_id, models)


def tree_at(
    db: LogDatabase, root_id: str, position: int | None = None, at: datetime | None = None
) -> TaskTreeNode:
    """The subtree of ``root_id`` exactly as it was after log ``position`` (or at time
    ``at``), rebuilt from the log; no executor runs. Without either: as it is now."""
    return db.call(_tree_at, db, root_id, position, at)


async def tree_at_async(
    db: LogDatabase, root_id: str, position: int | None = None, at: datetime | None = None
) -> TaskTreeNode:
    """``tree_at`` for async code: runs on the database worker, the event loop goes on."""
    return await db.run(_tree_at, db, root_id, position, at)


def log_position(db: LogDatabase) -> int:
    """The position of the newest event in the log (0 when it is empty)."""
    return db.call(_log_position, db)


async def log_position_async(db: LogDatabase) -> int:
    """``log_position`` for async code: runs on the database worker, the event loop goes on."""
    return await db.run(_log_position, db)


def _log_position(db: LogDatabase) -> int:
    return db.log.recorder.max_notification_id() or 0


def rebuild_projections(db: LogDatabase) -> int:
    """Drop every projection table and rebuild it from the log; returns the task count."""
    return db.call(_rebuild, db.connections, db.log)


async def rebuild_projections_async(db: LogDatabase) -> int:
    """``rebuild_projections`` for async code: runs on the database worker, the event loop
    goes on."""
    return await db.run(_rebuild, db.connections, db.log)
