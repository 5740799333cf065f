"""A failed executor's traceback is kept in the log, bounded, and read back by history."""

from __future__ import annotations

import uuid
from typing import Any

from aipartnerupflow import (
    BaseTask,
    ExtensionRegistry,
    TaskCreator,
    TaskManager,
    current_execution,
    history,
    rebuild_projections,
    tree_at,
)
from aipartnerupflow.events.domain.limits import MAX_TRACEBACK_CHARS
from aipartnerupflow.projections.readable import last_traceback, readable_history


def parse_the_order(order: dict[str, Any]) -> int:
    return int(order["quantity"])


class Orders(BaseTask):
    id = "orders"
    name = "orders"
    description = "parses an order; says a lot when it fails"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("loud"):
            raise RuntimeError("x" * (4 * MAX_TRACEBACK_CHARS))
        return {"quantity": parse_the_order(inputs)}


async def failed_run(db: Any, **inputs: Any) -> str:
    registry = ExtensionRegistry()
    registry.register_executor(Orders)
    task_id = f"order-{uuid.uuid4().hex[:8]}"
    spec = {"id": task_id, "name": "orders", "inputs": inputs}
    await TaskCreator(db).create_task_tree_from_array([spec])
    summary = await TaskManager(db, registry=registry).run_tree(task_id)
    assert summary["status"] == "failed"
    return task_id


async def test_the_traceback_names_the_function_that_raised(db) -> None:
    task_id = await failed_run(db, quantity="many")
    entries = history(db, task_id=task_id)
    failed = [e for e in entries if e["type"] == "failed"]
    assert len(failed) == 1 and "traceback" in failed[0]
    trace = failed[0]["traceback"]
    assert "in parse_the_order" in trace and __file__ in trace
    assert trace.rstrip().endswith("ValueError: invalid literal for int() with base 10: 'many'")
    assert last_traceback(entries) == trace
    # Only the log keeps it: the task's row (and so a rebuild) is as it always was.
    assert not any("traceback" in e for e in entries if e["type"] != "failed")
    before = tree_at(db, task_id).task.to_dict()
    rebuild_projections(db)
    assert tree_at(db, task_id).task.to_dict() == before


async def test_a_huge_traceback_keeps_its_end(db) -> None:
    task_id = await failed_run(db, loud=True)
    (failed,) = [e for e in history(db, task_id=task_id) if e["type"] == "failed"]
    trace = failed["traceback"]
    assert len(trace) == MAX_TRACEBACK_CHARS and trace.startswith("…")
    assert trace.rstrip().endswith("x" * 100)


async def test_a_failure_nothing_raised_has_no_traceback(db) -> None:
    registry = ExtensionRegistry()
    registry.register_executor(Orders)
    first, then = (f"{n}-{uuid.uuid4().hex[:8]}" for n in ("first", "then"))
    specs = [
        {"id": first, "name": "orders", "inputs": {"quantity": "many"}},
        {"id": then, "name": "orders", "parent_id": first, "dependencies": [first]},
    ]
    await TaskCreator(db).create_task_tree_from_array(specs)
    await TaskManager(db, registry=registry).run_tree(first)
    blocked = history(db, task_id=then)
    assert blocked[-1]["type"] == "failed" and "traceback" not in blocked[-1]
    assert last_traceback(blocked) is None


class Twice(BaseTask):
    """Fails on its first two attempts, then succeeds."""

    id = "twice"
    name = "twice"
    description = "third time lucky"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        attempt = current_execution().attempt
        if attempt < 3:
            raise ValueError(f"attempt {attempt} went wrong")
        return {"attempt": attempt}


async def test_each_retried_attempt_keeps_its_error_and_traceback(db) -> None:
    registry = ExtensionRegistry()
    registry.register_executor(Twice)
    task_id = f"twice-{uuid.uuid4().hex[:8]}"
    spec = {"id": task_id, "name": "twice", "params": {"max_retries": 2, "retry_delay": 0}}
    await TaskCreator(db).create_task_tree_from_array([spec])
    assert (await TaskManager(db, registry=registry).run_tree(task_id))["status"] == "completed"
    lines = readable_history(history(db, task_id=task_id))
    story = [(line["type"], line["attempt"], line["error"]) for line in lines]
    assert story == [
        ("created", None, None),
        ("started", 1, None),
        ("attempt_failed", 1, "attempt 1 went wrong"),
        ("started", 2, None),
        ("attempt_failed", 2, "attempt 2 went wrong"),
        ("started", 3, None),
        ("completed", 3, None),
    ]
    failed = [line for line in lines if line["type"] == "attempt_failed"]
    assert all("in execute" in line["traceback"] for line in failed)
    assert all(line["details"]["error_type"] == "ValueError" for line in failed)
    assert all(line["duration"] is not None for line in failed)
    assert last_traceback(history(db, task_id=task_id)) is None  # the last attempt completed
