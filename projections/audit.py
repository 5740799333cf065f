"""Audit and time travel: what happened to a task or tree, and how a tree looked at any point."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from sqlalchemy import select

from aipartnerupflow.errors import LimitExceededError, TaskNotFoundError, TaskValidationError
from aipartnerupflow.events.domain.limits import MAX_ROW_COUNT
from aipartnerupflow.events.domain.tree import TASK_COLUMNS, TaskState, TaskTree, column_values
from aipartnerupflow.events.store.bulk import prebuilt_read
from aipartnerupflow.events.store.recorder import events_table
from aipartnerupflow.projections.lineage import newest_event
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.projector import TreeFold
from aipartnerupflow.projections.projector import rebuild_projections as _rebuild
from aipartnerupflow.projections.tree_node import TaskTreeNode, tree_nodes

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
    with db.connections.read() as connection:
        tree_id = connection.execute(query.order_by(_c.position.desc()).limit(1)).scalar()
    if tree_id is None:
        raise TaskNotFoundError(task_id, reason="no event in the log names this task")
    return tree_id


class _Tasks(dict[str, TaskState]):
    """Task states by id; a task the fold did not read (another task's parent) reads as a
    scratch state, so one task's own events can be folded without the rest of its tree."""

    def __missing__(self, task_id: str) -> TaskState:
        return {}


#: Columns of a task, and a getter of their values from its state.
_Columns = tuple[tuple[str, ...], Callable[[TaskState], tuple[Any, ...]]]


@cache
def _own_columns_of(columns: frozenset[str]) -> _Columns:
    """``columns`` in table order, and a getter of their values from a task state (all
    of them are columns of the task table, which every state holds)."""
    order = {column: index for index, column in enumerate(TASK_COLUMNS)}
    ordered = tuple(sorted(columns, key=lambda c: (order.get(c, len(order)), c)))
    return ordered, column_values(ordered)


_NO_COLUMNS = _own_columns_of(frozenset())


def _own_columns(event: TaskTree.TaskEvent) -> _Columns | None:
    """The columns of its own task that ``event`` may change, with a getter of their
    values; None for the whole row."""
    for task_id, columns in event.row_changes():
        if task_id == event.task_id:
            return None if columns is None else _own_columns_of(columns)
    return _NO_COLUMNS


def _row_changes(before: TaskState | None, after: TaskState | None) -> dict[str, dict[str, Any]]:
    """A task that appears (every field, from None), goes (every field, to None), or is
    written whole (the fields whose value changed)."""
    if before is None:
        return {f: {"old": None, "new": v} for f, v in (after or {}).items()}
    if after is None:
        return {f: {"old": v, "new": None} for f, v in before.items()}
    return {f: {"old": before.get(f), "new": v} for f, v in after.items() if before.get(f) != v}


def _column_changes(
    columns: tuple[str, ...], old: tuple[Any, ...], new: tuple[Any, ...]
) -> dict[str, dict[str, Any]]:
    return {f: {"old": o, "new": n} for f, o, n in zip(columns, old, new, strict=True) if o != n}


#: What a retried attempt's failure says (it changes no column).
_DETAILS = ("attempt", "error", "error_type")


def _entry(
    event: Any, position: int, tree_id: str, changes: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    entry = {
        "position": position,
        "tree_id": tree_id,
        "version": event.originator_version,
        "task_id": event.task_id,
        "type": event.kind,
        "schema_version": getattr(type(event), "class_version", 1),
        "timestamp": event.timestamp,
        "cause": event.cause,  # the event was decoded for this entry alone
        "changes": changes,
    }
    trace = getattr(event, "traceback", None)
    if trace:
        entry["traceback"] = trace
    return entry


def _history(
    db: LogDatabase, task_id: str | None, tree_id: UUID | str | None
) -> list[dict[str, Any]]:
    if (task_id is None) == (tree_id is None):
        raise TaskValidationError("give exactly one of task_id and tree_id")
    stream = _tree_of_task(db, task_id) if task_id is not None else _as_uuid(cast(str, tree_id))
    wanted = ("position", "version", "topic", "state")
    with db.connections.read() as connection:
        if task_id is None:
            # Prebuilt, rows as the driver gives them: a tree's stream runs to 10^5 rows.
            read = prebuilt_read(
                events_table, wanted, (("tree_id", "="),), connection.dialect, order_by="version"
            )
            rows: Sequence[Any] = read.rows(connection, stream)
        else:
            # A task's state changes only through its own events (a child's creation or
            # deletion flips the parent's has_children, which none of the parent's own
            # events compares), so its history folds just those, found by the task index.
            # The stream is filtered here: given both, SQLite would walk the stream's index.
            query = (
                select(*(_c[name] for name in wanted), _c.tree_id)
                .where(_c.task_id == task_id)
                .order_by(_c.position)
            )
            found = connection.execute(query).all()
            rows = [row[:4] for row in found if row[4] == stream]
    decode = db.log.mapper.decode
    stream_name = str(stream)
    fold = TreeFold(_Tasks())
    tasks = fold.tasks
    entries = []
    for position, version, topic, state in rows:
        event = decode(stream, version, topic, state)
        if not isinstance(event, TaskTree.TaskEvent):
            if task_id is None:  # the tree's creation
                entries.append(_entry(event, position, stream_name, {}))
            continue
        if isinstance(event, TaskTree.AttemptFailed):
            entry = _entry(event, position, stream_name, {})
            details = {k: getattr(event, k) for k in _DETAILS}
            entry["details"] = {k: v for k, v in details.items() if v is not None}
            entries.append(entry)
            continue
        own = _own_columns(event)
        before = tasks.get(event.task_id)
        if own is None or before is None:
            before = None if before is None else dict(before)
            event.apply(fold)
            changes = _row_changes(before, tasks.get(event.task_id))
        else:
            columns, values = own
            old = values(before)
            event.apply(fold)
            changes = _column_changes(columns, old, values(tasks[event.task_id]))
        entries.append(_entry(event, position, stream_name, changes))
    return entries


def history(
    db: LogDatabase, task_id: str | None = None, tree_id: UUID | str | None = None
) -> list[dict[str, Any]]:
    """Every event of a task (or of a whole tree), oldest first.

    Each entry has ``position`` (in the log), ``tree_id``, ``version``, ``task_id``,
    ``type``, ``schema_version``, ``timestamp``, ``cause`` and ``changes``
    (``{field: {"old": ..., "new": ...}}``); a failure raised by an executor also has
    its ``traceback``; an ``attempt_failed`` entry (an attempt that failed and is
    retried, recorded before the next start) has ``details`` (``attempt``, ``error``,
    ``error_type``) instead of changes. Deleted tasks keep their history.
    """
    return db.call_read(_history, db, task_id, tree_id)


async def history_async(
    db: LogDatabase, task_id: str | None = None, tree_id: UUID | str | None = None
) -> list[dict[str, Any]]:
    """``history`` for async code: runs on the reader thread, the event loop goes on."""
    return await db.run_read(_history, db, task_id, tree_id)


def _checked_position(position: Any) -> int:
    """A log position as every database stores it: an int from 0 to 2**63 - 1."""
    if isinstance(position, bool) or not isinstance(position, int):
        raise TaskValidationError(
            f"must be an integer, got {type(position).__name__}", field="position"
        )
    if not 0 <= position <= MAX_ROW_COUNT:
        raise LimitExceededError(f"must be from 0 to {MAX_ROW_COUNT}", field="position")
    return position


def _tree_at(
    db: LogDatabase, root_id: str, position: int | None, at: datetime | None
) -> TaskTreeNode:
    if position is not None and at is not None:
        raise TaskValidationError("give position or at, not both")
    if position is not None:
        position = _checked_position(position)
    if at is not None and not isinstance(at, datetime):
        raise TaskValidationError(f"must be a datetime, got {type(at).__name__}", field="at")
    stream = _tree_of_task(db, root_id, position)
    with db.connections.read() as connection:
        found = newest_event(connection, stream, position, at)
    tree = None if found is None else db.log.load_at(stream, found[0])
    if tree is None or root_id not in tree.tasks:
        raise TaskNotFoundError(root_id, reason="did not exist at that point of the log")
    # The folded tree is this answer's alone (load_at never caches it): its states become
    # the models' attributes as they are.
    return tree_nodes(tree, root_id, TaskModel.adopt)


def tree_at(
    db: LogDatabase, root_id: str, position: int | None = None, at: datetime | None = None
) -> TaskTreeNode:
    """The subtree of ``root_id`` exactly as it was after log ``position`` (or at time
    ``at``), rebuilt from the log; no executor runs. Without either: as it is now."""
    return db.call_read(_tree_at, db, root_id, position, at)


async def tree_at_async(
    db: LogDatabase, root_id: str, position: int | None = None, at: datetime | None = None
) -> TaskTreeNode:
    """``tree_at`` for async code: runs on the reader thread, the event loop goes on."""
    return await db.run_read(_tree_at, db, root_id, position, at)


def log_position(db: LogDatabase) -> int:
    """The position of the newest event in the log (0 when it is empty)."""
    return db.call_read(_log_position, db)


async def log_position_async(db: LogDatabase) -> int:
    """``log_position`` for async code: runs on the reader thread, the event loop goes on."""
    return await db.run_read(_log_position, db)


def _log_position(db: LogDatabase) -> int:
    return db.log.recorder.max_notification_id() or 0


def rebuild_projections(db: LogDatabase) -> int:
    """Drop every projection table and rebuild it from the log; returns the task count."""
    return db.call(_rebuild, db.connections, db.log)


async def rebuild_projections_async(db: LogDatabase) -> int:
    """``rebuild_projections`` for async code: runs on the database worker, the event loop
    goes on."""
    return await db.run(_rebuild, db.connections, db.log)
