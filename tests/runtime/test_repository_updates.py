"""TaskRepository.update_task as 0.9.0's update: outcome fields change without a
status, and a refused update names every problem at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.data import refused

import aipartnerupflow
from aipartnerupflow import (
    DependencyError,
    ImmutableFieldError,
    TaskNotFoundError,
    TaskRepository,
    TaskStatus,
    TaskValidationError,
    UpdateRejectedError,
    history,
)

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_outcome_fields_change_without_a_status(db, repo: TaskRepository) -> None:
    """result, error, error_type, progress, started_at and completed_at can be updated
    on their own: the status stays, and one 'updated' event records them."""
    await repo.create_task(name="t", id="t")
    changes = {
        "result": {"rows": [1, 2]},
        "error": "partial",
        "error_type": "Partial",
        "progress": 0.25,
        "started_at": WHEN,
        "completed_at": WHEN,
    }
    task = await repo.update_task("t", **changes)
    assert task.status == TaskStatus.PENDING
    assert {field: getattr(task, field) for field in changes} == changes
    assert [e["type"] for e in history(db, task_id="t")] == ["created", "updated"]
    running = await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    assert (running.result, running.progress) == (None, 0.0)
    task = await repo.update_task("t", progress=0.5, result={"partial": True})
    assert (task.status, task.progress, task.result) == ("in_progress", 0.5, {"partial": True})


async def test_an_unchanged_value_writes_nothing(db, repo: TaskRepository) -> None:
    await repo.create_task(name="t", id="t", priority=3)
    positions = len(history(db, task_id="t"))
    await repo.update_task("t", priority=3, name="t", result=None)
    assert len(history(db, task_id="t")) == positions


async def test_every_problem_of_an_update_is_reported(db, repo: TaskRepository) -> None:
    """One UpdateRejectedError (a TaskValidationError, exported by the package) lists
    each refused field with its own typed error; nothing is written."""
    assert aipartnerupflow.UpdateRejectedError is UpdateRejectedError
    await repo.create_task(name="r", id="r")
    await repo.create_task(name="t", id="t", parent_id="r")
    async with refused(
        db, repo, UpdateRejectedError, "'name'", "'priority'", "'parent_id'", "'colour'"
    ) as caught:
        await repo.update_task(
            "t",
            name="",
            priority=-1,
            parent_id="x",
            colour="red",
            progress=2,
            status="bogus",
            dependencies=["ghost"],
            error=3,
            inputs="not a dict",
        )
    error = caught.value
    assert isinstance(error, TaskValidationError) and error.task_id == "t"
    fields = [problem.field for problem in error.problems]
    assert fields == [
        "name",
        "priority",
        "parent_id",
        "colour",
        "progress",
        "status",
        "dependencies",
        "error",
        "inputs",
    ]
    kinds = {problem.field: type(problem) for problem in error.problems}
    assert kinds["parent_id"] is ImmutableFieldError and kinds["dependencies"] is DependencyError
    for problem in error.problems:
        assert problem.reason in str(error)


async def test_one_problem_names_its_field(db, repo: TaskRepository) -> None:
    await repo.create_task(name="t", id="t")
    async with refused(db, repo, UpdateRejectedError, "'priority'") as caught:
        await repo.update_task("t", name="fine", priority="high")
    assert caught.value.field == "priority" and len(caught.value.problems) == 1


async def test_update_of_unknown_task(db, repo: TaskRepository) -> None:
    async with refused(db, repo, TaskNotFoundError, "'ghost'"):
        await repo.update_task("ghost", result=1)


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED])
async def test_status_with_outcome_still_follows_status_rules(
    repo: TaskRepository, status: str
) -> None:
    await repo.create_task(name="t", id="t")
    task = await repo.update_task("t", status=status, result={"n": 1}, error="e")
    assert (task.status, task.result, task.error) == (status, {"n": 1}, "e")
    assert task.completed_at is not None
