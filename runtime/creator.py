"""TaskCreator: whole trees from arrays, and copies of trees for re-execution."""

from __future__ import annotations

from typing import Any

from aipartnerupflow.errors import DuplicateTaskError
from aipartnerupflow.events.domain.cause import current_cause
from aipartnerupflow.events.domain.copying import plan_copy
from aipartnerupflow.events.domain.planning import plan_tree
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.queries import TaskQueries
from aipartnerupflow.runtime.repository import TaskRef, _task_id
from aipartnerupflow.runtime.session import Database


class TaskCreator:
    """Creates task trees all or nothing: a rejected array writes nothing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queries = TaskQueries(db)

    async def create_task_tree_from_array(self, tasks: list[dict[str, Any]]) -> TaskTreeNode:
        """Validate the whole array (ids, parents, one root, dependencies, field types),
        then record the tree in one transaction and return it."""
        specs = plan_tree(tasks)
        cause = current_cause(default_user_id=specs[0]["user_id"])
        tree = await self.db.run(self.db.log.run, lambda work: self._plant(work, specs, cause))
        return await self.db.run(self.queries.node, tree, tree.root_task_id)

    def _plant(self, work: Work, specs: list[dict[str, Any]], cause: dict[str, Any]) -> TaskTree:
        with self.db.connections.begin() as connection:
            taken = self.queries.existing_ids(connection, (spec["id"] for spec in specs))
        if taken:
            raise DuplicateTaskError(
                "a task with this id already exists", task_id=taken[0], field="id"
            )
        return work.add(TaskTree.plant(specs, cause))

    async def create_task_copy(
        self, original_task: TaskRef, children: bool = False
    ) -> TaskTreeNode:
        """Copy a task tree for re-execution into a new tree; returns the copy's root.

        The copy holds the task's whole subtree and every task that depends on anything
        in it, transitively, with the structure kept under their lowest common ancestor.
        Tasks they depend on outside it come along too: completed ones keep their result
        and do not run again. Copies are pending, with new ids and ``original_task_id``;
        dependencies point at the copies; every original gets ``has_copy``.
        ``children=True`` changes nothing: the subtree already holds every child with
        its dependents (each copied once).
        """
        task_id = _task_id(original_task)
        cause = current_cause()
        tree = await self.db.run(self.db.log.run, lambda work: self._copy(work, task_id, cause))
        return await self.db.run(self.queries.node, tree, tree.root_task_id)

    def _copy(self, work: Work, task_id: str, cause: dict[str, Any]) -> TaskTree:
        original = work.tree(self.queries.tree_id_of(task_id))
        plan = plan_copy(original, task_id)
        copy = work.add(TaskTree.plant(plan.specs, cause))
        for old, new in plan.new_ids.items():
            if old in plan.kept:
                state = original.tasks[old]
                copy.set_status(
                    new,
                    TaskStatus.COMPLETED,
                    cause,
                    result=state["result"],
                    completed_at=state["completed_at"],
                )
        for old, new in plan.new_ids.items():
            original.mark_copied(old, new, str(copy.id), cause)
        return copy
