"""Turn an array of task definitions into the specs of one valid tree, or refuse it whole."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aipartnerupflow.errors import (
    DependencyError,
    DuplicateTaskError,
    TaskValidationError,
    TreeStructureError,
)
from aipartnerupflow.events.domain.validation import build_spec, check_task_id, find_cycle


def _assign_ids(tasks: Sequence[Any]) -> list[str]:
    """The id of each task: its own, or (when no task has one) a new one, names as refs."""
    for index, raw in enumerate(tasks):
        if not isinstance(raw, dict):
            raise TaskValidationError(
                f"task #{index} must be an object (dict), got {type(raw).__name__}"
            )
    with_ids = [raw for raw in tasks if raw.get("id") is not None]
    if with_ids and len(with_ids) != len(tasks):
        missing = next(i for i, raw in enumerate(tasks) if raw.get("id") is None)
        raise TaskValidationError(
            f"task #{missing} ({tasks[missing].get('name')!r}) has no id: give ids to every "
            "task or to none (then names must be unique and serve as references)",
            field="id",
        )
    if with_ids:
        ids = [check_task_id(raw["id"]) for raw in tasks]
        seen: set[str] = set()
        for task_id in ids:
            if task_id in seen:
                raise DuplicateTaskError(
                    "id is used by more than one task", task_id=task_id, field="id"
                )
            seen.add(task_id)
        return ids
    names: dict[str, int] = {}
    for index, raw in enumerate(tasks):
        name = raw.get("name")
        if not isinstance(name, str):
            continue  # build_spec refuses it, naming the task
        if name in names:
            raise DuplicateTaskError(
                f"name {name!r} is used by tasks #{names[name]} and #{index}; without ids, "
                "names must be unique because they serve as references",
                field="name",
            )
        names[name] = index
    return [str(uuid.uuid4()) for _ in tasks]


def plan_tree(tasks: Sequence[Any]) -> list[dict[str, Any]]:
    """Validate a whole tree definition; return specs with the root first, parents first."""
    if isinstance(tasks, (str, bytes, dict)) or not isinstance(tasks, Sequence) or not tasks:
        raise TaskValidationError("tasks must be a non-empty list of task objects")
    ids = _assign_ids(tasks)
    refs = [raw.get("id") or raw.get("name") for raw in tasks]
    by_ref = {ref: task_id for ref, task_id in zip(refs, ids, strict=True) if isinstance(ref, str)}
    # Errors name each task as the array does: by its id, or (without ids) by its name.
    labels = {
        task_id: raw.get("id") or (raw.get("name") if _is_text(raw.get("name")) else f"#{i}")
        for i, (raw, task_id) in enumerate(zip(tasks, ids, strict=True))
    }
    specs: dict[str, dict[str, Any]] = {}
    for raw, task_id in zip(tasks, ids, strict=True):
        label = labels[task_id]
        definition = {k: v for k, v in raw.items() if k != "id"}
        if "dependencies" in definition:
            definition["dependencies"] = _named_references(definition["dependencies"])
        spec = build_spec(definition, label)
        spec["id"] = task_id
        if spec["parent_id"] is not None:
            if spec["parent_id"] not in by_ref:
                raise TreeStructureError(
                    f"parent {spec['parent_id']!r} is not a task of this array",
                    task_id=label,
                    field="parent_id",
                )
            spec["parent_id"] = by_ref[spec["parent_id"]]
        for dep in spec["dependencies"]:
            if dep["id"] not in by_ref:
                raise DependencyError(
                    f"refers to {dep['id']!r}, which is not a task of this array",
                    task_id=label,
                    field="dependencies",
                )
            dep["id"] = by_ref[dep["id"]]
            if dep["id"] == task_id:
                raise DependencyError(
                    "a task cannot depend on itself", task_id=label, field="dependencies"
                )
        specs[task_id] = spec
    return _order(specs, labels)


def _named_references(dependencies: Any) -> Any:
    """Dependencies written ``{"name": ref}`` as ``{"id": ref}``: in an array either key
    holds a reference (an id, or a name when the tasks have no ids); ``id`` wins."""
    if not isinstance(dependencies, (list, tuple)):
        return dependencies  # build_spec refuses it, naming the task
    return [
        {**{k: v for k, v in dep.items() if k != "name"}, "id": dep["name"]}
        if isinstance(dep, Mapping) and dep.get("id") is None and "name" in dep
        else dep
        for dep in dependencies
    ]


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _order(specs: dict[str, dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    roots = [task_id for task_id, spec in specs.items() if spec["parent_id"] is None]
    if not roots:
        first = next(iter(specs))
        raise TreeStructureError(
            "no task is a root: every task has a parent (this one's is "
            f"{labels[specs[first]['parent_id']]!r}); a tree has exactly one root",
            task_id=labels[first],
            field="parent_id",
        )
    if len(roots) != 1:
        raise TreeStructureError(
            f"{len(roots)} tasks have no parent ({', '.join(repr(labels[r]) for r in roots)}); "
            "a tree has exactly one root",
            field="parent_id",
        )
    children: dict[str, list[str]] = {task_id: [] for task_id in specs}
    for task_id, spec in specs.items():
        if spec["parent_id"] is not None:
            children[spec["parent_id"]].append(task_id)
    ordered = [roots[0]]
    for task_id in ordered:  # grows while iterating: breadth-first walk from the root
        ordered.extend(children[task_id])
    if len(ordered) != len(specs):
        stray = next(task_id for task_id in specs if task_id not in set(ordered))
        raise TreeStructureError(
            "is not reachable from the root: its parent chain forms a cycle",
            task_id=labels[stray],
            field="parent_id",
        )
    cycle = find_cycle(
        {tid: [d["id"] for d in spec["dependencies"]] for tid, spec in specs.items()}
    )
    if cycle:
        raise DependencyError(
            f"dependency cycle: {' -> '.join(labels[t] for t in cycle)}",
            task_id=labels[cycle[0]],
            field="dependencies",
        )
    return [specs[task_id] for task_id in ordered]
