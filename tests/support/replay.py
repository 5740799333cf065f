"""Deterministic executors and trees for fork, diff and timeline tests."""

from __future__ import annotations

from typing import Any

from aipartnerupflow import BaseTask, ExtensionRegistry, TaskCreator, TaskManager, TaskTreeNode


class Sum(BaseTask):
    """Adds its ``n`` to the values its dependencies returned; fails when told to."""

    id = "sum"
    name = "sum"
    description = "n plus the values of its dependencies"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("fail"):
            raise RuntimeError(f"asked to fail: {inputs['fail']}")
        merged = [v["value"] for v in inputs.values() if isinstance(v, dict) and "value" in v]
        return {"value": inputs.get("n", 0) + sum(merged)}


class Gather(BaseTask):
    """Returns its dependencies' results keyed by their task ids, as aggregates do."""

    id = "gather"
    name = "gather"
    description = "the dependencies' results by task id"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"by_task": {k: v for k, v in inputs.items() if isinstance(v, dict)}}


def registry() -> ExtensionRegistry:
    """A registry of its own: tests leave the process-wide one alone."""
    own = ExtensionRegistry()
    own.register_executor(Sum)
    own.register_executor(Gather)
    return own


def sum_task(
    task_id: str, parent: str | None = None, deps: list[Any] | None = None, **inputs: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": task_id, "name": task_id, "inputs": inputs}
    spec["schemas"] = {"method": "sum"}
    if parent is not None:
        spec["parent_id"] = parent
    if deps:
        spec["dependencies"] = deps
    return spec


def pipeline(prefix: str) -> list[dict[str, Any]]:
    """root depends on b, b on a (both children of root), c independent."""
    return [
        sum_task(f"{prefix}root", deps=[f"{prefix}b"], n=100),
        sum_task(f"{prefix}a", f"{prefix}root", n=1),
        sum_task(f"{prefix}b", f"{prefix}root", deps=[f"{prefix}a"], n=10),
        sum_task(f"{prefix}c", f"{prefix}root", n=1000),
    ]


async def run(db: Any, root_id: str) -> dict[str, Any]:
    return await TaskManager(db, registry=registry()).run_tree(root_id)


async def create_and_run(db: Any, tasks: list[dict[str, Any]]) -> TaskTreeNode:
    root = await TaskCreator(db).create_task_tree_from_array(tasks)
    await run(db, root.task.id)
    return root
