"""TaskCreator: whole trees from arrays, and copies of trees for re-execution."""

from __future__ import annotations

import uuid
from typing import Any

from aipartnerupflow.errors import DuplicateTaskError
from aipartnerupflow.events.domain.cause import current_cause
from aipartnerupflow.events.domain.planning import plan_tree
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.repository import TaskQueries, TaskRef, _task_id
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
        """Copy a task into a new pending tree for re-execution.

        The copy's root copies ``original_task``. With ``children=True`` each direct child
        is copied too, with every task it depends on inside the original tree (each task
        once). Copies get new ids and ``original_task_id``; dependencies are remapped to the
        copies and dropped when they point outside the copy; originals get ``has_copy``.
        """
        task_id = _task_id(original_task)
        cause = current_cause()
        tree = await self.db.run(
            self.db.log.run, lambda work: self._copy(work, task_id, children, cause)
        )
        return await self.db.run(self.queries.node, tree, tree.root_task_id)

    def _copy(self, work: Work, task_id: str, children: bool, cause: dict[str, Any]) -> TaskTree:
        original = work.tree(self.queries.tree_id_of(task_id))
        chosen = [task_id]
        if children:
            chosen.extend(original.children[task_id])
            for chosen_id in chosen:  # grows while iterating: closure over dependencies
                for dep in original.tasks[chosen_id]["dependencies"]:
                    if dep["id"] not in chosen:
                        chosen.append(dep["id"])
        new_ids = {old: str(uuid.uuid4()) for old in chosen}
        specs = [
            _copy_spec(original.tasks[old], new_ids, root=old == task_id)
            for old in _parents_first(original, chosen)
        ]
        copy = work.add(TaskTree.plant(specs, cause))
        for old, new in new_ids.items():
            original.mark_copied(old, new, str(copy.id), cause)
        return copy


def _parents_first(tree: TaskTree, chosen: list[str]) -> list[str]:
    """``chosen`` in the tree's breadth-first order from the first one (the copy's root)."""
    wanted = set(chosen)
    order = [
        tid
        for tid in (tree.root_task_id, *tree.descendant_ids(tree.root_task_id))
        if tid in wanted and tid != chosen[0]
    ]
    return [chosen[0], *order]


def _copy_spec(state: dict[str, Any], new_ids: dict[str, str], *, root: bool) -> dict[str, Any]:
    parent = None if root else new_ids.get(state["parent_id"], new_ids[next(iter(new_ids))])
    return {
        "id": new_ids[state["id"]],
        "name": state["name"],
        "user_id": state["user_id"],
        "parent_id": parent,
        "priority": state["priority"],
        "dependencies": [
            {**dep, "id": new_ids[dep["id"]]}
            for dep in state["dependencies"]
            if dep["id"] in new_ids
        ],
        "inputs": state["inputs"],
        "params": state["params"],
        "schemas": state["schemas"],
        "original_task_id": state["id"],
    }
