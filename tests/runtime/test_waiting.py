"""A task that waits for input: recorded, its dependents wait, the rest of the tree goes
on; the input resumes it; bad input and late input are refused with nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from aipartnerupflow import (
    BaseTask,
    InputRequired,
    TaskCreator,
    TaskManager,
    TaskNotFoundError,
    TaskStateError,
    TaskStatus,
    TaskValidationError,
    get_registry,
    history_async,
    log_position_async,
)
from aipartnerupflow.actors.waiting import wait_expired

SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}},
    "required": ["approved"],
}
SEEN: list[dict[str, Any]] = []


class Approval(BaseTask):
    id = "approval"
    name = "approval"
    description = "asks whether to go on; returns the answer once it has one"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        SEEN.append(inputs)
        if "input" not in inputs:
            return {"status": "input_required", "prompt": "Go on?", "schema": SCHEMA}
        return {"approved": inputs["input"]["approved"]}


class Question(BaseTask):
    id = "question"
    name = "question"
    description = "raises InputRequired until it has an answer, then echoes it"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if "input" not in inputs:
            raise InputRequired("Your name?")
        return {"answer": inputs["input"]}


class Work(BaseTask):
    id = "work"
    name = "work"
    description = "returns its tag"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"done": inputs.get("tag")}


EXECUTORS = (Approval, Question, Work)


@pytest.fixture(autouse=True)
def executors():
    registry = get_registry()
    for executor in EXECUTORS:
        registry.register_executor(executor)
    SEEN.clear()
    yield
    for executor in EXECUTORS:
        registry.unregister_executor(executor.id)


def tree(ask: str = "approval", **params: Any) -> list[dict[str, Any]]:
    """root needs ask and sibling; ask waits; after needs ask; sibling needs nothing."""
    return [
        {"id": "root", "name": "work", "dependencies": ["ask", "sibling"], "inputs": {"tag": "r"}},
        {"id": "ask", "name": ask, "parent_id": "root", "params": params},
        {"id": "sibling", "name": "work", "parent_id": "root", "inputs": {"tag": "s"}},
        {"id": "after", "name": "work", "parent_id": "root", "dependencies": ["ask"]},
    ]


async def start(db, specs: list[dict[str, Any]]) -> tuple[TaskManager, dict[str, Any]]:
    await TaskCreator(db).create_task_tree_from_array(specs)
    manager = TaskManager(db)
    return manager, await manager.run_tree("root")


async def statuses(manager: TaskManager) -> dict[str, str]:
    tasks = (await manager.task_repository.build_task_tree("root")).tasks()
    return {task.id: task.status for task in tasks}


async def test_a_waiting_task_holds_its_dependents_and_the_rest_goes_on(db) -> None:
    manager, summary = await start(db, tree())
    assert summary["status"] == TaskStatus.WAITING
    assert await statuses(manager) == {
        "root": TaskStatus.PENDING,
        "ask": TaskStatus.WAITING,
        "sibling": TaskStatus.COMPLETED,
        "after": TaskStatus.PENDING,
    }
    ask = await manager.task_repository.get_task_by_id("ask")
    assert ask.result["prompt"] == "Go on?"
    assert ask.result["schema"] == SCHEMA
    assert ask.completed_at is None
    kinds = [entry["type"] for entry in await history_async(db, "ask")]
    assert kinds[-1] == "waiting"
    # The run released its lease: running the tree again just finds it waiting.
    assert (await manager.run_tree("root"))["status"] == TaskStatus.WAITING
    assert len(SEEN) == 1


async def test_input_resumes_the_task_and_the_tree_completes(db) -> None:
    manager, _ = await start(db, tree())
    summary = await manager.provide_input("ask", {"approved": True})
    assert summary["status"] == TaskStatus.COMPLETED
    assert SEEN[-1]["input"] == {"approved": True}
    ask = await manager.task_repository.get_task_by_id("ask")
    assert ask.result == {"approved": True}
    entries = await history_async(db, "ask")
    given = next(e for e in entries if e["type"] == "updated")
    assert given["cause"]["reason"] == "input"
    assert [e["type"] for e in entries][-4:] == ["updated", "reset", "started", "completed"]
    after = await manager.task_repository.get_task_by_id("after")
    assert after.status == TaskStatus.COMPLETED


async def test_an_executor_may_raise_input_required(db) -> None:
    manager, summary = await start(db, tree("question"))
    assert summary["status"] == TaskStatus.WAITING
    ask = await manager.task_repository.get_task_by_id("ask")
    assert ask.result["prompt"] == "Your name?" and ask.result["schema"] is None
    summary = await manager.provide_input("ask", "Ada")
    assert summary["status"] == TaskStatus.COMPLETED
    assert (await manager.task_repository.get_task_by_id("ask")).result == {"answer": "Ada"}


@pytest.mark.parametrize(
    ("data", "wrong"),
    [
        ({"approved": "yes"}, "must be boolean"),
        ({}, "missing required input 'approved'"),
        ("yes", "must be object"),
        ({"approved": True, "x": float("nan")}, "input"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(db, data: Any, wrong: str) -> None:
    manager, _ = await start(db, tree())
    before = await log_position_async(db)
    with pytest.raises(TaskValidationError, match=wrong) as refused:
        await manager.provide_input("ask", data)
    assert refused.value.task_id == "ask"
    assert await log_position_async(db) == before
    assert (await statuses(manager))["ask"] == TaskStatus.WAITING
    # The tree is still free to take its input.
    assert (await manager.provide_input("ask", {"approved": False}))["status"] == "completed"


async def test_input_for_a_task_that_does_not_wait_is_refused(db) -> None:
    manager, _ = await start(db, tree())
    before = await log_position_async(db)
    with pytest.raises(TaskStateError, match="is completed, not waiting"):
        await manager.provide_input("sibling", {"approved": True})
    with pytest.raises(TaskNotFoundError):
        await manager.provide_input("nobody", {"approved": True})
    assert await log_position_async(db) == before


async def test_a_wait_past_its_input_timeout_fails_when_the_tree_runs_again(db) -> None:
    # Any wait is older than a nanosecond by the time the tree runs again.
    manager, _ = await start(db, tree(input_timeout=1e-9))
    with pytest.raises(TaskStateError, match="wait for input is over"):
        await manager.provide_input("ask", {"approved": True})
    summary = await manager.run_tree("root")
    assert summary["status"] == TaskStatus.FAILED
    ask = await manager.task_repository.get_task_by_id("ask")
    assert ask.error_type == "InputTimeoutError"
    after = await manager.task_repository.get_task_by_id("after")
    assert after.error_type == "DependencyFailedError"


async def test_recovery_ends_expired_waits(db) -> None:
    manager, _ = await start(db, tree(input_timeout=1e-9))
    plan = await manager.recovery_plan()
    assert plan.resume == ["root"]
    [summary] = await manager.recover()
    assert summary["status"] == TaskStatus.FAILED
    assert (await manager.recovery_plan()).resume == []


async def test_waits_without_a_timeout_are_not_recovered(db) -> None:
    manager, _ = await start(db, tree())
    assert (await manager.recovery_plan()).resume == []


async def test_a_waiting_task_can_be_cancelled(db) -> None:
    manager, _ = await start(db, tree())
    answer = await manager.cancel_task("ask")
    assert answer["status"] == "cancelled"
    assert (await statuses(manager))["ask"] == TaskStatus.CANCELLED


def test_wait_expired_counts_from_when_the_task_asked() -> None:
    from datetime import UTC, datetime, timedelta

    asked = datetime(2025, 1, 1, tzinfo=UTC)
    state = {
        "status": TaskStatus.WAITING,
        "params": {"input_timeout": 60},
        "result": {"status": "input_required", "asked_at": asked.isoformat()},
    }
    assert wait_expired(state, asked + timedelta(seconds=59)) is None
    assert wait_expired(state, asked + timedelta(seconds=60)) is not None
    assert wait_expired({**state, "params": {}}, asked + timedelta(days=9)) is None
    assert wait_expired({**state, "status": "pending"}, asked + timedelta(days=9)) is None


@pytest.mark.parametrize("timeout", [0, -1, "60", True, [5]])
async def test_a_bad_input_timeout_is_refused_at_creation(db, timeout: Any) -> None:
    before = await log_position_async(db)
    with pytest.raises(TaskValidationError, match="input_timeout must be a positive number"):
        await TaskCreator(db).create_task_tree_from_array(tree(input_timeout=timeout))
    assert await log_position_async(db) == before
