"""Keeps the projection tables equal to the fold of the event log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from aipartnerupflow.events.domain.tree import TASK_COLUMNS, TaskState, TaskTree, column_values
from aipartnerupflow.events.store.bulk import bulk_delete, bulk_insert, bulk_update
from aipartnerupflow.events.store.log import Batch, TaskLog
from aipartnerupflow.events.store.recorder import Connections, events_table
from aipartnerupflow.projections.models import ProjectionBase, TaskModel

_tasks = TaskModel.__table__


_ROW_COLUMNS = ("tree_id", *TASK_COLUMNS)
_values = column_values(TASK_COLUMNS)
#: Changed rows up to which a batch updates them all in one statement.
_FEW_ROWS = 8


def _row(state: dict[str, Any], tree_id: UUID) -> tuple[Any, ...]:
    return (tree_id, *_values(state))


def project(connection: Connection, batch: Batch) -> None:
    """Write what the batch's events changed, from the trees' new state.

    Rows that appear are inserted whole; rows that change get only the columns their
    events changed (a status change does not rewrite a task's inputs), except that a
    few changed rows share one statement (and its columns).
    """
    inserts: list[tuple[Any, ...]] = []
    rewritten: list[tuple[set[str], TaskState, str]] = []
    deletes: list[tuple[str]] = []
    for tree, events in batch:
        # In event order, not a set's: rows inserted in creation order keep a run's
        # updates on neighbouring pages, where hash order spreads every commit over
        # the whole table.
        whole: dict[str, None] = {}
        columns: dict[str, set[str]] = {}
        for event in events:
            if not isinstance(event, TaskTree.TaskEvent):
                continue
            for task_id, changed in event.row_changes():
                if changed is None:
                    whole[task_id] = None
                else:
                    columns.setdefault(task_id, set()).update(changed)
        for task_id in whole:
            state = tree.tasks.get(task_id)
            if state is None:
                deletes.append((task_id,))
            else:
                inserts.append(_row(state, tree.id))
        for task_id, names in columns.items():
            state = tree.tasks.get(task_id)
            if task_id not in whole and state is not None:
                rewritten.append((names, state, task_id))
    dialect = connection.dialect
    if deletes:
        # An id deleted and created again within one batch must lose its old row too.
        deletes.extend((row[1],) for row in inserts)
        bulk_delete(_tasks, "id", dialect).execute(connection, deletes)
    bulk_insert(_tasks, _ROW_COLUMNS, dialect).execute(connection, inserts)
    for key, rows in _updates(rewritten).items():
        bulk_update(_tasks, key, "id", dialect).execute(connection, rows)


def _updates(
    rewritten: list[tuple[set[str], TaskState, str]],
) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """Rows to update, by the columns they set: each row's values, then its id."""
    if rewritten and len(rewritten) <= _FEW_ROWS:
        # A few rows (a chain's commit: one task finished, the next started with new
        # inputs): one statement for all, each row given every column any of them
        # changed, from the state, which holds every column's current value. On a
        # database server that is a round trip less per commit; on SQLite it is even.
        key = tuple(sorted(set().union(*(names for names, _, _ in rewritten))))
        values = column_values(key)
        return {key: [(*values(state), task_id) for _, state, task_id in rewritten]}
    updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for names, state, task_id in rewritten:
        key = tuple(sorted(names))
        updates.setdefault(key, []).append((*column_values(key)(state), task_id))
    return updates


class TreeFold:
    """The task states of one tree, folded by applying its task events directly.

    A replay needs only the states: the aggregate's ``mutate`` would also check and
    advance versions per event, which costs more than the change itself.
    """

    def __init__(self, tasks: dict[str, TaskState] | None = None) -> None:
        self.tasks: dict[str, TaskState] = {} if tasks is None else tasks
        self.children: defaultdict[str, list[str]] = defaultdict(list)


def fold_log(log: TaskLog, connection: Connection) -> Iterable[tuple[UUID, TreeFold]]:
    """Every tree's task states as the whole log makes them now, replayed from position 0."""
    trees: dict[Any, tuple[UUID, TreeFold]] = {}
    decode = log.mapper.decode
    task_event = TaskTree.TaskEvent
    # Straight from the driver: a whole-log read is the one place where converting each
    # row's tree id (there are few distinct ones) costs more than folding the event.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            f"SELECT tree_id, version, topic, state FROM {events_table.name} ORDER BY position"
        )
        while rows := cursor.fetchmany(5000):
            for raw_id, version, topic, state in rows:
                tree = trees.get(raw_id)
                tree_id = UUID(str(raw_id)) if tree is None else tree[0]
                event = decode(tree_id, version, topic, bytes(state))
                if isinstance(event, task_event):
                    assert tree is not None, "a task event before its tree's creation"
                    event.apply(tree[1])
                else:  # the tree's creation (again, should a stream ever restart)
                    trees[raw_id] = (tree_id, TreeFold())
    finally:
        cursor.close()
    return trees.values()


def rebuild_projections(connections: Connections, log: TaskLog) -> int:
    """Drop every projection table and refill it from the log; returns the task count."""
    with connections.begin() as connection:
        ProjectionBase.metadata.drop_all(connection)
        ProjectionBase.metadata.create_all(connection)
        trees = list(fold_log(log, connection))
        rows = (_row(state, tree_id) for tree_id, tree in trees for state in tree.tasks.values())
        bulk_insert(_tasks, _ROW_COLUMNS, connection.dialect).execute(connection, rows)
    return sum(len(tree.tasks) for _, tree in trees)
