"""Keeps the projection tables equal to the fold of the event log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, bindparam, select

from ..events.recorder import Connections, events_table
from ..events.store import Batch, TaskLog
from ..events.tree import TASK_COLUMNS, TaskTree
from .models import ProjectionBase, TaskModel

_tasks = TaskModel.__table__
_update_task = (
    _tasks.update()
    .where(_tasks.c.id == bindparam("_id"))
    .values({column: bindparam(column) for column in TASK_COLUMNS if column != "id"})
)


def _row(state: dict[str, Any], tree_id: UUID) -> dict[str, Any]:
    row = dict(state)
    row["tree_id"] = tree_id
    return row


def project(connection: Connection, batch: Batch) -> None:
    """Write the rows of every task the batch's events touched, from the trees' new state."""
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for tree, events in batch:
        created: set[str] = set()
        touched: dict[str, None] = {}
        for event in events:
            if isinstance(event, TaskTree.TaskEvent):
                if isinstance(event, TaskTree.TaskCreated):
                    created.add(event.task_id)
                touched.update(dict.fromkeys(event.touched()))
        for task_id in touched:
            state = tree.tasks.get(task_id)
            if state is None:
                if task_id not in created:
                    deletes.append({"_id": task_id})
            elif task_id in created:
                inserts.append(_row(state, tree.id))
            else:
                row = _row(state, tree.id)
                row["_id"] = row.pop("id")
                updates.append(row)
    if deletes:
        connection.execute(_tasks.delete().where(_tasks.c.id == bindparam("_id")), deletes)
    if inserts:
        connection.execute(_tasks.insert(), inserts)
    if updates:
        connection.execute(_update_task, updates)


def fold_log(log: TaskLog, connection: Connection) -> Iterable[TaskTree]:
    """Every tree as the whole log makes it now, replayed from position 0."""
    trees: dict[UUID, TaskTree] = {}
    to_domain_event = log.mapper.to_domain_event
    c = events_table.c
    rows = connection.execution_options(yield_per=5000).execute(
        select(c.tree_id, c.version, c.topic, c.state).order_by(c.position)
    )
    for tree_id, version, topic, state in rows:
        event = to_domain_event(StoredEvent(tree_id, version, topic, state))
        trees[tree_id] = event.mutate(trees.get(tree_id))
    return trees.values()


def rebuild_projections(connections: Connections, log: TaskLog) -> int:
    """Drop every projection table and refill it from the log; returns the task count."""
    with connections.begin() as connection:
        ProjectionBase.metadata.drop_all(connection)
        ProjectionBase.metadata.create_all(connection)
        rows = [
            _row(state, tree.id)
            for tree in fold_log(log, connection)
            for state in tree.tasks.values()
        ]
        if rows:
            connection.execute(_tasks.insert(), rows)
    return len(rows)
