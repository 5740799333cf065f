"""Executors see which task, tree and attempt they run, and a key stable across attempts."""

from __future__ import annotations

from typing import Any

from aipartnerupflow import BaseTask, TaskCreator, TaskManager, TaskStatus, get_registry
from aipartnerupflow.actors.context import ExecutionContext, current_execution
from aipartnerupflow.runtime.session import Database

seen: list[ExecutionContext | None] = []


class Flaky(BaseTask):
    id = "flaky_context"
    name = "flaky"
    description = "fails on its first attempt, noting its context each time"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        context = current_execution()
        seen.append(context)
        if context is not None and context.attempt == 1:
            raise RuntimeError("first attempt fails")
        return {"key": None if context is None else context.idempotency_key}


async def test_attempts_share_the_idempotency_key(db: Database) -> None:
    seen.clear()
    get_registry().register_executor(Flaky)
    try:
        tasks = [
            {"id": "a", "name": "flaky_context", "params": {"max_retries": 1, "retry_delay": 0}},
            {"id": "b", "name": "flaky_context", "params": {"max_retries": 1, "retry_delay": 0}},
        ]
        tree = await TaskCreator(db).create_task_tree_from_array(
            [tasks[0], {**tasks[1], "parent_id": "a"}]
        )
        summary = await TaskManager(db).run_tree(tree.task.id)
    finally:
        get_registry().unregister_executor("flaky_context")
    assert summary["status"] == TaskStatus.COMPLETED
    contexts = [c for c in seen if c is not None]
    assert len(contexts) == len(seen) == 4
    by_task = {(c.task_id, c.attempt): c for c in contexts}
    assert set(by_task) == {("a", 1), ("a", 2), ("b", 1), ("b", 2)}
    assert by_task["a", 1].idempotency_key == by_task["a", 2].idempotency_key
    assert by_task["a", 1].idempotency_key != by_task["b", 1].idempotency_key
    assert {c.tree_id for c in contexts} == {str(tree.task.tree_id)}
    assert current_execution() is None  # nothing leaks out of the run
