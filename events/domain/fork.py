"""Forks: a new tree that starts from another tree as it was at a point of the log.

A fork is planted like any tree, in its own stream: a ``TreeForked`` event records the
lineage (source tree, position, overrides, tasks forced to run again), then one
``TaskForked`` event per task. A task completed in the source by then keeps its outcome;
every other task starts pending. Overridden tasks, tasks named to run again and
everything that depends on them start pending too. The source stream is never written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aipartnerupflow.errors import TaskNotFoundError, TaskValidationError
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import Cause, RowChanges, TaskTree
from aipartnerupflow.events.domain.validation import check_mapping

#: Fields of a task that a fork may override; values are merged key by key.
OVERRIDABLE = ("inputs", "params")
#: Columns a kept task takes over from its source.
_OUTCOME = ("status", "result", "progress", "started_at", "completed_at", "attempt")


class TreeForked(TaskTree.TaskEvent):
    """The lineage of a fork, recorded before its tasks: where it branched and why."""

    source_tree_id: str
    source_root_id: str
    position: int
    overrides: dict[str, Any]
    rerun: list[str]
    kind = "tree_forked"

    def row_changes(self) -> RowChanges:
        return ()


class TaskForked(TaskTree.TaskCreated):
    """A task of a fork: created like any task, then given the outcome it keeps."""

    outcome: dict[str, Any]
    kind = "forked"

    def apply(self, tree: TaskTree) -> None:
        super().apply(tree)
        tree.tasks[self.task_id].update(self.outcome)


#: One planned task: new id, creation fields, outcome kept from the source ({} = pending).
PlannedTask = tuple[str, dict[str, Any], dict[str, Any]]


def _resolver(source: TaskTree, ids: list[str]) -> Callable[[str, str], str]:
    """Resolve a reference to a task of the subtree: its id, else its (unique) name."""
    members = set(ids)
    by_name: dict[str, list[str]] = {}
    for task_id in ids:
        by_name.setdefault(source.tasks[task_id]["name"], []).append(task_id)

    def resolve(ref: str, field: str) -> str:
        if not isinstance(ref, str):
            raise TaskValidationError(f"must name tasks by id or name, got {ref!r}", field=field)
        if ref in members:
            return ref
        named = by_name.get(ref, [])
        if len(named) == 1:
            return named[0]
        if named:
            raise TaskValidationError(
                f"{ref!r} names {len(named)} tasks of the tree: use an id", field=field
            )
        raise TaskNotFoundError(ref, field=field, reason="is not a task of the forked tree")

    return resolve


def _check_overrides(
    overrides: Mapping[str, Any], resolve: Callable[[str, str], str]
) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(overrides, Mapping):
        raise TaskValidationError("must map task ids to changes", field="overrides")
    checked: dict[str, dict[str, dict[str, Any]]] = {}
    for ref, changes in overrides.items():
        task_id = resolve(ref, "overrides")
        if not isinstance(changes, Mapping) or not changes:
            raise TaskValidationError(
                f"must map {', '.join(OVERRIDABLE)} to values", task_id=task_id, field="overrides"
            )
        into = checked.setdefault(task_id, {})
        for field, value in changes.items():
            if field not in OVERRIDABLE:
                raise TaskValidationError(
                    f"cannot be overridden in a fork (only {', '.join(OVERRIDABLE)})",
                    task_id=task_id,
                    field=field,
                )
            into.setdefault(field, {}).update(check_mapping(value, task_id, field))
    return checked


def _dependents(source: TaskTree, ids: list[str], starts: Iterable[str]) -> set[str]:
    """``starts`` and every task of ``ids`` that depends on one of them, transitively."""
    direct: dict[str, list[str]] = {}
    for task_id in ids:
        for dep in source.tasks[task_id]["dependencies"]:
            direct.setdefault(dep["id"], []).append(task_id)
    found = set(starts)
    queue = list(found)
    while queue:
        for dependent in direct.get(queue.pop(), ()):
            if dependent not in found:
                found.add(dependent)
                queue.append(dependent)
    return found


def plan_fork(
    source: TaskTree,
    root_id: str,
    overrides: Mapping[str, Any] | None = None,
    rerun: Iterable[str] | None = None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[list[PlannedTask], dict[str, Any], list[str]]:
    """The tasks of a fork of ``root_id``'s subtree of ``source`` (parents first), with
    the overrides and reruns resolved to source ids. Invalid input raises before anything
    is planned; dependencies on tasks outside the subtree are dropped, as in a copy."""
    source.require(root_id, field="root_id")
    ids = [root_id, *source.descendant_ids(root_id)]
    resolve = _resolver(source, ids)
    checked = _check_overrides(overrides or {}, resolve)
    if isinstance(rerun, str):
        raise TaskValidationError("must be a list of task ids", field="rerun")
    forced = list(dict.fromkeys(resolve(ref, "rerun") for ref in rerun or ()))
    reset = _dependents(source, ids, [*checked, *forced])
    new_ids = {old: new_id() for old in ids}
    planned: list[PlannedTask] = []
    for old in ids:
        state = source.tasks[old]
        deps = [
            {**dep, "id": new_ids[dep["id"]]}
            for dep in state["dependencies"]
            if dep["id"] in new_ids
        ]
        # Results merged from dependencies are keyed by the dependency's id: follow the rename.
        inputs = {new_ids.get(key, key): value for key, value in state["inputs"].items()}
        params = dict(state["params"])
        changes = checked.get(old, {})
        inputs.update(changes.get("inputs", {}))
        params.update(changes.get("params", {}))
        fields = {
            "name": state["name"],
            "user_id": state["user_id"],
            "parent_id": None if old == root_id else new_ids[state["parent_id"]],
            "priority": state["priority"],
            "dependencies": deps,
            "inputs": inputs,
            "params": params,
            "schemas": state["schemas"],
            "original_task_id": old,
        }
        kept = state["status"] == TaskStatus.COMPLETED and old not in reset
        outcome = {column: state[column] for column in _OUTCOME} if kept else {}
        planned.append((new_ids[old], fields, outcome))
    return planned, checked, forced


def plant_fork(
    source_tree_id: str,
    source_root_id: str,
    position: int,
    planned: list[PlannedTask],
    overrides: dict[str, Any],
    rerun: list[str],
    cause: Cause,
) -> TaskTree:
    """A new tree holding the planned tasks, its first events recording the lineage."""
    root_id = planned[0][0]
    tree = TaskTree(root_task_id=root_id, cause=cause)
    # The fork is planted in one commit, at one time: sharing it lets the save format
    # each time column once for the whole fork rather than once per task.
    at = TaskForked.create_timestamp()
    fork_of = {"tree_id": source_tree_id, "task_id": source_root_id, "position": position}
    tree.trigger_event(
        TreeForked,
        task_id=root_id,
        timestamp=at,
        cause={**cause, "fork_of": fork_of},
        source_tree_id=source_tree_id,
        source_root_id=source_root_id,
        position=position,
        overrides=overrides,
        rerun=rerun,
    )
    for task_id, fields, outcome in planned:
        tree.trigger_event(
            TaskForked, timestamp=at, task_id=task_id, cause=cause, fields=fields, outcome=outcome
        )
    return tree
