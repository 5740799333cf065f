"""TaskRepository: the async data API over the event log and the task projection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from aipartnerupflow.errors import (
    DependencyError,
    DuplicateTaskError,
    TaskNotFoundError,
)
from aipartnerupflow.events.domain.cause import current_cause
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.domain.validation import build_spec, check_row_count, check_task_id
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.queries import TaskQueries
from aipartnerupflow.runtime.session import Database

_tasks = TaskModel.__table__
TaskRef = TaskModel | str


def _task_id(task: TaskRef) -> str:
    return task.id if isinstance(task, TaskModel) else check_task_id(task, field="task_id")


def _cause(cause: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    if "user_id" not in cause and state.get("user_id") is not None:
        return {**cause, "user_id": state["user_id"]}
    return cause


class TaskRepository:
    """Create, read, update and delete tasks. Every change is an event in the log; reads
    come from the projection, which is updated in the same transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queries = TaskQueries(db)

    # ----------------------------------------------------------------- create

    async def create_task(
        self,
        name: str,
        user_id: str | None = None,
        parent_id: str | None = None,
        priority: int = 1,
        dependencies: list[dict[str, Any]] | None = None,
        inputs: dict[str, Any] | None = None,
        schemas: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> TaskModel:
        """Create one task: a new tree without ``parent_id``, else a child in the parent's tree.

        Dependencies must name tasks of the same tree; priority 0 is the most urgent.
        """
        task_id = str(uuid.uuid4()) if id is None else check_task_id(id)
        spec = build_spec(
            {
                "name": name,
                "user_id": user_id,
                "parent_id": parent_id,
                "priority": priority,
                "dependencies": dependencies,
                "inputs": inputs,
                "schemas": schemas,
                "params": params,
            },
            task_id,
        )
        cause = current_cause(default_user_id=user_id)
        await self.db.run(self.db.log.run, lambda work: self._create(work, spec, cause))
        created = await self.db.run(self.queries.get, task_id)
        assert created is not None
        return created

    def _create(self, work: Work, spec: dict[str, Any], cause: dict[str, Any]) -> None:
        task_id = spec["id"]
        with self.db.connections.begin() as connection:
            if self.queries.existing_ids(connection, [task_id]):
                raise DuplicateTaskError(
                    "a task with this id already exists", task_id=task_id, field="id"
                )
        if spec["parent_id"] is None:
            if spec["dependencies"]:
                raise DependencyError(
                    f"refers to {spec['dependencies'][0]['id']!r}: a task without a parent "
                    "starts a new tree and cannot depend on tasks of other trees",
                    task_id=task_id,
                    field="dependencies",
                )
            work.add(TaskTree.plant([spec], cause))
            return
        try:
            tree_id = self.queries.tree_id_of(spec["parent_id"])
        except TaskNotFoundError:
            raise TaskNotFoundError(
                spec["parent_id"], field="parent_id", reason=f"parent of {task_id!r} does not exist"
            ) from None
        work.tree(tree_id).add_task(spec, cause)

    # ------------------------------------------------------------------- read

    async def get_task_by_id(self, task_id: str) -> TaskModel | None:
        """The task, or None when there is no task with that id."""
        return await self.db.run_read(self.queries.get, task_id)

    async def get_root_task(self, task: TaskRef) -> TaskModel:
        """The root of the tree the task belongs to."""
        return await self.db.run(self._root, _task_id(task))

    def _root(self, task_id: str) -> TaskModel:
        tree = self.db.log.load(self.queries.tree_id_of(task_id))
        root = self.queries.get(tree.root_task_id)
        assert root is not None
        return root

    async def get_all_tasks_in_tree(self, task: TaskRef) -> list[TaskModel]:
        """Every task of the task's tree, root first, breadth first."""
        return await self.db.run(self._tree_tasks, _task_id(task))

    def _tree_tasks(self, task_id: str) -> list[TaskModel]:
        tree = self.db.log.load(self.queries.tree_id_of(task_id))
        ids = [tree.root_task_id, *tree.descendant_ids(tree.root_task_id)]
        return self.queries.models_in_order(tree.id, ids)

    async def build_task_tree(self, task: TaskRef) -> TaskTreeNode:
        """The task with all its descendants as a TaskTreeNode."""
        return await self.db.run(self._build_tree, _task_id(task))

    def _build_tree(self, task_id: str) -> TaskTreeNode:
        tree = self.db.log.load(self.queries.tree_id_of(task_id))
        return self.queries.node(tree, task_id)

    async def get_all_children_recursive(self, task_id: str) -> list[TaskModel]:
        """Every descendant of the task (children, grandchildren, ...), breadth first."""
        return await self.db.run(self._related, task_id, TaskTree.descendant_ids)

    async def find_dependent_tasks(self, task_id: str) -> list[TaskModel]:
        """The tasks that list the task among their dependencies."""
        return await self.db.run(self._related, task_id, TaskTree.direct_dependent_ids)

    async def find_dependent_tasks_recursive(self, task_id: str) -> list[TaskModel]:
        """Every task that depends on the task, directly or through other tasks."""
        return await self.db.run(self._related, task_id, TaskTree.dependent_ids)

    def _related(self, task_id: str, relation: Any) -> list[TaskModel]:
        tree = self.db.log.load(self.queries.tree_id_of(task_id))
        return self.queries.models_in_order(tree.id, list(relation(tree, task_id)))

    async def list_tasks(
        self,
        user_id: str | None = None,
        status: str | None = None,
        parent_id: str | None = None,
        root_only: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[TaskModel]:
        """Tasks matching every given filter, newest first."""
        query = select(_tasks)
        if user_id is not None:
            query = query.where(_tasks.c.user_id == user_id)
        if status is not None:
            query = query.where(_tasks.c.status == status)
        if parent_id is not None:
            query = query.where(_tasks.c.parent_id == parent_id)
        if root_only:
            query = query.where(_tasks.c.parent_id.is_(None))
        query = query.order_by(_tasks.c.created_at.desc(), _tasks.c.id.desc())
        query = query.limit(check_row_count(limit, "limit"))
        query = query.offset(check_row_count(offset, "offset"))
        return await self.db.run_read(self._select, query)

    def _select(self, query: Any) -> list[TaskModel]:
        with self.db.connections.read() as connection:
            return [TaskModel.from_row(row) for row in connection.execute(query)]

    # ----------------------------------------------------------------- update

    async def update_task_status(
        self,
        task_id: str,
        status: str,
        error: str | None = None,
        result: Any = None,
        progress: float | None = None,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
        error_type: str | None = None,
    ) -> TaskModel:
        """Record a status change with its error, result, progress and timestamps."""
        options = {
            "error": error,
            "result": result,
            "progress": progress,
            "started_at": started_at,
            "completed_at": completed_at,
            "error_type": error_type,
        }
        return await self._change(
            task_id, lambda tree, cause: tree.set_status(task_id, status, cause, **options)
        )

    async def update_task_inputs(self, task_id: str, inputs: dict[str, Any]) -> TaskModel:
        """Replace the task's inputs."""
        return await self._update_field(task_id, "inputs", inputs)

    async def update_task_dependencies(
        self, task_id: str, dependencies: list[dict[str, Any]]
    ) -> TaskModel:
        """Replace the dependencies of a pending task (validated: references, cycles,
        and dependents that already run)."""
        return await self._update_field(task_id, "dependencies", dependencies)

    async def update_task_name(self, task_id: str, name: str) -> TaskModel:
        """Rename the task."""
        return await self._update_field(task_id, "name", name)

    async def update_task_priority(self, task_id: str, priority: int) -> TaskModel:
        """Change the priority (0 is the most urgent)."""
        return await self._update_field(task_id, "priority", priority)

    async def update_task_params(self, task_id: str, params: dict[str, Any]) -> TaskModel:
        """Replace the executor parameters."""
        return await self._update_field(task_id, "params", params)

    async def update_task_schemas(self, task_id: str, schemas: dict[str, Any]) -> TaskModel:
        """Replace the validation schemas."""
        return await self._update_field(task_id, "schemas", schemas)

    async def update_task_field(self, task_id: str, field: str, value: Any) -> TaskModel:
        """Change one field by name; parent_id and user_id are refused."""
        return await self._update_field(task_id, field, value)

    async def update_task(self, task_id: str, **changes: Any) -> TaskModel:
        """Change several fields at once, all or nothing; an UpdateRejectedError lists
        every problem. ``result``, ``error``, ``error_type``, ``progress``, ``started_at``
        and ``completed_at`` change on their own, or with ``status`` by
        ``update_task_status``'s rules."""
        return await self._change(task_id, lambda tree, cause: tree.update(task_id, changes, cause))

    async def _update_field(self, task_id: str, field: str, value: Any) -> TaskModel:
        return await self._change(
            task_id, lambda tree, cause: tree.update_field(task_id, field, value, cause)
        )

    async def _change(self, task_id: str, command: Any) -> TaskModel:
        check_task_id(task_id, field="task_id")
        cause = current_cause()

        def run(work: Work) -> TaskTree:
            tree = work.tree(self.queries.tree_id_of(task_id))
            command(tree, _cause(cause, tree.require(task_id)))
            return tree

        def run_then_copy() -> TaskModel:
            tree = self.db.log.run(run)
            # The committed state the projection row was just written from: no read back.
            return TaskModel.detached_copy(tree.tasks[task_id], tree.id)

        # One trip to the database thread, not two: the call's latency is mostly hops.
        return await self.db.run(run_then_copy)

    # ----------------------------------------------------------------- delete

    async def delete_task(self, task_id: str) -> bool:
        """Delete the task and its descendants from the projection; the log keeps their
        history. False when there is no such task; refused while a task outside them
        depends on one of them."""
        check_task_id(task_id, field="task_id")
        cause = current_cause()

        def run(work: Work) -> None:
            tree = work.tree(self.queries.tree_id_of(task_id))
            tree.delete(task_id, _cause(cause, tree.require(task_id)))

        try:
            await self.db.run(self.db.log.run, run)
        except TaskNotFoundError as exc:
            if exc.task_id != task_id or exc.field is not None:
                raise
            return False
        return True
