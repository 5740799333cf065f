"""TaskRepository: every method and update rule, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from aipartnerupflow import (
    DependencyError,
    DuplicateTaskError,
    ImmutableFieldError,
    TaskNotFoundError,
    TaskRepository,
    TaskStateError,
    TaskStatus,
    TaskValidationError,
    log_position,
)


async def assert_refused(db, call: Awaitable[Any], error: type[Exception], *words: str) -> None:
    """The call raises ``error`` naming ``words``, and the log does not move."""
    before = log_position(db)
    with pytest.raises(error) as caught:
        await call
    assert isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value)
    assert log_position(db) == before


async def test_create_task_defaults(repo: TaskRepository) -> None:
    task = await repo.create_task(name="solo", user_id="u1")
    assert (task.status, task.priority, task.progress) == (TaskStatus.PENDING, 1, 0.0)
    assert (task.inputs, task.params, task.schemas, task.dependencies) == ({}, {}, {}, [])
    assert task.parent_id is None and task.has_children is False and task.has_copy is False
    assert task.created_at == task.updated_at and task.created_at.tzinfo is not None


async def test_child_joins_parent_tree_and_marks_parent(repo: TaskRepository) -> None:
    root = await repo.create_task(name="root", id="r")
    child = await repo.create_task(name="child", parent_id="r", priority=0, inputs={"a": 1})
    assert child.tree_id == root.tree_id
    assert (await repo.get_task_by_id("r")).has_children is True
    assert (await repo.get_task_by_id(child.id)).priority == 0


async def test_create_rejections_leave_log_untouched(db, repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    other = await repo.create_task(name="other tree", id="o")
    await assert_refused(db, repo.create_task(name="dup", id="r"), DuplicateTaskError, "'r'", "id")
    await assert_refused(
        db, repo.create_task(name="x", parent_id="nope"), TaskNotFoundError, "nope", "parent_id"
    )
    await assert_refused(
        db,
        repo.create_task(name="x", parent_id="r", dependencies=[other.id]),
        DependencyError,
        "'o'",
        "dependencies",
    )
    await assert_refused(
        db, repo.create_task(name="x", dependencies=["r"]), DependencyError, "dependencies"
    )
    await assert_refused(db, repo.create_task(name="", id="e"), TaskValidationError, "name")
    await assert_refused(
        db, repo.create_task(name="x", priority="high"), TaskValidationError, "priority"
    )
    await assert_refused(db, repo.create_task(name="x", inputs=[1]), TaskValidationError, "inputs")
    await assert_refused(
        db,
        repo.create_task(name="x", params={"f": object()}),
        TaskValidationError,
        "params",
        "JSON",
    )


async def test_get_and_tree_reads(repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    await repo.create_task(name="a", id="a", parent_id="r")
    await repo.create_task(name="b", id="b", parent_id="r")
    await repo.create_task(name="a1", id="a1", parent_id="a")
    assert await repo.get_task_by_id("missing") is None
    assert (await repo.get_root_task("a1")).id == "r"
    assert (await repo.get_root_task(await repo.get_task_by_id("b"))).id == "r"
    assert [t.id for t in await repo.get_all_tasks_in_tree("a1")] == ["r", "a", "b", "a1"]
    node = await repo.build_task_tree("r")
    assert [c.task.id for c in node.children] == ["a", "b"]
    assert [c.task.id for c in node.children[0].children] == ["a1"]
    assert [t.id for t in await repo.get_all_children_recursive("r")] == ["a", "b", "a1"]
    assert await repo.get_all_children_recursive("a1") == []


async def test_find_dependent_tasks_direct_and_recursive(repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    await repo.create_task(name="a", id="a", parent_id="r", dependencies=["r"])
    await repo.create_task(name="b", id="b", parent_id="r", dependencies=["a"])
    await repo.create_task(name="c", id="c", parent_id="r")
    assert [t.id for t in await repo.find_dependent_tasks("r")] == ["a"]
    assert [t.id for t in await repo.find_dependent_tasks_recursive("r")] == ["a", "b"]
    assert await repo.find_dependent_tasks("c") == []


async def test_update_task_status_lifecycle(repo: TaskRepository) -> None:
    await repo.create_task(name="t", id="t")
    started = await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    assert started.status == TaskStatus.IN_PROGRESS and started.started_at is not None
    assert started.attempt == 1
    running = await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.4)
    assert running.progress == 0.4 and running.started_at == started.started_at
    failed = await repo.update_task_status("t", "failed", error="boom", error_type="IOError")
    assert (failed.error, failed.error_type, failed.progress) == ("boom", "IOError", 0.4)
    assert failed.completed_at is not None
    again = await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    assert again.error is None and again.result is None and again.completed_at is None
    assert again.attempt == 2
    done = await repo.update_task_status("t", TaskStatus.COMPLETED, result={"n": 1})
    assert (done.progress, done.result) == (1.0, {"n": 1})
    reset = await repo.update_task_status("t", TaskStatus.PENDING)
    assert (reset.result, reset.started_at, reset.progress) == (None, None, 0.0)


async def test_update_task_status_rejections(db, repo: TaskRepository) -> None:
    await repo.create_task(name="t", id="t")
    await assert_refused(db, repo.update_task_status("t", "done"), TaskValidationError, "status")
    await assert_refused(
        db,
        repo.update_task_status("t", "in_progress", progress=1.5),
        TaskValidationError,
        "progress",
    )
    await assert_refused(
        db, repo.update_task_status("t", "completed", result={1j}), TaskValidationError, "result"
    )
    await assert_refused(db, repo.update_task_status("zz", "completed"), TaskNotFoundError, "zz")


@pytest.mark.parametrize(
    ("method", "value", "field"),
    [
        ("update_task_name", "renamed", "name"),
        ("update_task_priority", 0, "priority"),
        ("update_task_inputs", {"q": [1, 2]}, "inputs"),
        ("update_task_params", {"timeout": 3}, "params"),
        ("update_task_schemas", {"method": "m"}, "schemas"),
    ],
)
async def test_field_updates_persist(
    repo: TaskRepository, method: str, value: Any, field: str
) -> None:
    created = await repo.create_task(name="t", id="t")
    await repo.update_task_status("t", TaskStatus.COMPLETED)  # allowed in any status
    updated = await getattr(repo, method)("t", value)
    assert getattr(updated, field) == value
    assert getattr(await repo.get_task_by_id("t"), field) == value
    assert updated.updated_at > created.updated_at


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("update_task_name", ""),
        ("update_task_name", 7),
        ("update_task_priority", "high"),
        ("update_task_priority", True),
        ("update_task_priority", -1),
        ("update_task_inputs", [1]),
        ("update_task_params", "x"),
        ("update_task_schemas", {"k": float("nan")}),
    ],
)
async def test_field_updates_refuse_bad_values(
    db, repo: TaskRepository, method: str, value: Any
) -> None:
    await repo.create_task(name="t", id="t")
    await assert_refused(db, getattr(repo, method)("t", value), TaskValidationError, "'t'")


async def test_parent_and_user_never_change(db, repo: TaskRepository) -> None:
    await repo.create_task(name="t", id="t", user_id="u")
    for field in ("parent_id", "user_id"):
        await assert_refused(
            db, repo.update_task_field("t", field, "x"), ImmutableFieldError, field
        )


async def test_update_dependencies_rules(db, repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    await repo.create_task(name="a", id="a", parent_id="r")
    await repo.create_task(name="b", id="b", parent_id="r", dependencies=["a"])
    updated = await repo.update_task_dependencies("a", [{"id": "r", "required": False}])
    assert updated.dependencies == [{"id": "r", "required": False, "type": "result"}]
    await assert_refused(db, repo.update_task_dependencies("a", ["b"]), DependencyError, "cycle")
    await assert_refused(db, repo.update_task_dependencies("a", ["a"]), DependencyError, "itself")
    await assert_refused(
        db, repo.update_task_dependencies("a", ["ghost"]), DependencyError, "ghost"
    )
    await repo.update_task_status("b", TaskStatus.IN_PROGRESS)
    await assert_refused(db, repo.update_task_dependencies("a", []), DependencyError, "'b'")
    await repo.update_task_status("r", TaskStatus.COMPLETED)
    await assert_refused(db, repo.update_task_dependencies("r", []), TaskStateError, "pending")


async def test_delete_task_removes_subtree_and_keeps_history(db, repo: TaskRepository) -> None:
    from aipartnerupflow import history

    await repo.create_task(name="root", id="r")
    await repo.create_task(name="a", id="a", parent_id="r")
    await repo.create_task(name="a1", id="a1", parent_id="a")
    await repo.create_task(name="b", id="b", parent_id="r", dependencies=["a1"])
    await assert_refused(db, repo.delete_task("a"), DependencyError, "'b'")
    await repo.delete_task("b")
    assert await repo.delete_task("a") is True
    assert await repo.get_task_by_id("a") is None and await repo.get_task_by_id("a1") is None
    assert (await repo.get_task_by_id("r")).has_children is False
    assert [e["type"] for e in history(db, task_id="a1")] == ["created", "deleted"]
    assert await repo.delete_task("a") is False


async def test_list_tasks_filters_and_order(repo: TaskRepository) -> None:
    await repo.create_task(name="r1", id="r1", user_id="u1")
    await repo.create_task(name="c1", id="c1", user_id="u1", parent_id="r1")
    await repo.create_task(name="r2", id="r2", user_id="u2")
    await repo.update_task_status("r2", TaskStatus.COMPLETED)
    assert [t.id for t in await repo.list_tasks()] == ["r2", "c1", "r1"]
    assert [t.id for t in await repo.list_tasks(user_id="u1")] == ["c1", "r1"]
    assert [t.id for t in await repo.list_tasks(status="completed")] == ["r2"]
    assert [t.id for t in await repo.list_tasks(parent_id="r1")] == ["c1"]
    assert [t.id for t in await repo.list_tasks(root_only=True)] == ["r2", "r1"]
    assert [t.id for t in await repo.list_tasks(limit=1, offset=1)] == ["c1"]
