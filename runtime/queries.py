"""TaskQueries: reads of the task projection, run on the database worker thread."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import Connection, bindparam, select

from aipartnerupflow.errors import TaskNotFoundError
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.bulk import prebuilt_read
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.tree_node import TaskTreeNode, tree_nodes
from aipartnerupflow.runtime.session import Database

_tasks = TaskModel.__table__

# Built once: every single-task call runs them, and building costs more than running.
_TASK_BY_ID = select(_tasks).where(_tasks.c.id == bindparam("id"))


class TaskQueries:
    """Reads of the projection; run on the database worker thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def tree_id_of(self, task_id: str) -> UUID:
        with self.db.connections.read() as connection:
            read = prebuilt_read(_tasks, ("tree_id",), (("id", "="),), connection.dialect)
            rows = read.rows(connection, task_id)
        if not rows:
            raise TaskNotFoundError(task_id)
        tree_id = rows[0][0]  # SQLite gives the stored hex, PostgreSQL a UUID
        return tree_id if isinstance(tree_id, UUID) else UUID(tree_id)

    def existing_ids(self, connection: Connection, ids: Iterable[str]) -> list[str]:
        wanted = list(ids)
        found: list[str] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.extend(
                connection.execute(select(_tasks.c.id).where(_tasks.c.id.in_(chunk))).scalars()
            )
        return found

    def get(self, task_id: str) -> TaskModel | None:
        with self.db.connections.read() as connection:
            row = connection.execute(_TASK_BY_ID, {"id": task_id}).first()
        return None if row is None else TaskModel.from_row(row)

    def tree_models(self, tree_id: UUID) -> dict[str, TaskModel]:
        with self.db.connections.read() as connection:
            rows = connection.execute(select(_tasks).where(_tasks.c.tree_id == tree_id)).all()
        return {row.id: TaskModel.from_row(row) for row in rows}

    def models_in_order(self, tree_id: UUID, ids: Sequence[str]) -> list[TaskModel]:
        models = self.tree_models(tree_id)
        return [models[task_id] for task_id in ids]

    def node(self, tree: TaskTree, root_id: str) -> TaskTreeNode:
        """The subtree of ``root_id`` from the tree's (committed) state, children in
        creation order."""
        return tree_nodes(tree, root_id, TaskModel.detached_copy)
