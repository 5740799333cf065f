"""Which tasks a copy for re-execution holds, and the specs of their copies.

A copy re-runs a task's whole subtree and every task that depends on anything in it
(transitively). So that the copy is one tree that can run on its own, it also holds:
the ancestors that connect those tasks under their lowest common ancestor (they run
again), and the tasks they depend on outside that set: a completed one is copied with
its outcome and does not run again, any other runs again (with what it needs in turn).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree


@dataclass(frozen=True)
class CopyPlan:
    """Specs of the copies (root first, parents first), the original of each copy, and
    the copies that keep their original's outcome."""

    specs: list[dict[str, Any]]
    new_ids: dict[str, str]
    kept: frozenset[str]


def plan_copy(tree: TaskTree, task_id: str) -> CopyPlan:
    """The copy of ``task_id``'s subtree and of its dependents (see the module's notes)."""
    rerun = {task_id, *tree.descendant_ids(task_id)}
    rerun.update(tree.dependent_ids(*rerun))
    kept: set[str] = set()
    todo = list(rerun)
    while todo:
        for dep in tree.tasks[todo.pop()]["dependencies"]:
            dep_id = dep["id"]
            if dep_id in rerun or dep_id in kept:
                continue
            if tree.tasks[dep_id]["status"] == TaskStatus.COMPLETED:
                kept.add(dep_id)
            else:
                rerun.add(dep_id)
                todo.append(dep_id)
        if not todo:
            todo = _connect(tree, rerun, kept)
    root = tree.common_ancestor(rerun | kept)
    order = [tid for tid in (root, *tree.descendant_ids(root)) if tid in rerun or tid in kept]
    new_ids = {old: str(uuid.uuid4()) for old in order}
    specs = [_spec(tree.tasks[old], new_ids, root=old == root) for old in order]
    return CopyPlan(specs, new_ids, frozenset(kept))


def _connect(tree: TaskTree, rerun: set[str], kept: set[str]) -> list[str]:
    """Add to ``rerun`` the ancestors that join every chosen task under their lowest
    common ancestor; returns the added ones (their own dependencies are still to see)."""
    chosen = rerun | kept
    root = tree.common_ancestor(chosen)
    added: list[str] = []
    for task_id in list(chosen):
        if task_id == root:
            continue
        for ancestor in tree.ancestor_ids(task_id):
            if ancestor in chosen:
                break
            chosen.add(ancestor)
            added.append(ancestor)
            if ancestor == root:
                break
    rerun.update(added)
    return added


def _spec(state: dict[str, Any], new_ids: dict[str, str], *, root: bool) -> dict[str, Any]:
    return {
        "id": new_ids[state["id"]],
        "name": state["name"],
        "user_id": state["user_id"],
        "parent_id": None if root else new_ids[state["parent_id"]],
        "priority": state["priority"],
        # Only a task that keeps its outcome can hold a dependency outside the copy: it
        # does not run again, so that dependency is dropped.
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
