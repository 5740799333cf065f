"""Task arrays as 0.9.0 accepts them: any TaskModel column in an item (ignored: a new
task starts pending), dependencies written by name, and deep trees."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.data import refused
from support.samples import A2A_TREE

from aipartnerupflow import (
    DependencyError,
    TaskCreator,
    TaskModel,
    TaskRepository,
    TaskStatus,
    TaskValidationError,
)
from aipartnerupflow.events.domain.validation import DEFINABLE_FIELDS, IGNORED_FIELDS

STORED_ONLY = {
    "status": "completed",
    "result": {"old": True},
    "error": "old error",
    "error_type": "OldError",
    "progress": 0.7,
    "has_children": True,
    "created_at": "2024-01-01T00:00:00+00:00",
    "started_at": "2024-01-01T00:00:00+00:00",
    "updated_at": "2024-01-01T00:00:00+00:00",
    "completed_at": "2024-01-01T00:00:00+00:00",
    "original_task_id": "elsewhere",
    "has_copy": True,
    "attempt": 3,
    "tree_id": "3f1c0b7e-0000-0000-0000-000000000000",
}


def test_every_column_is_definable_or_ignored() -> None:
    columns = set(TaskModel.__table__.columns.keys())
    assert columns == {"id", *DEFINABLE_FIELDS, *IGNORED_FIELDS}
    assert set(STORED_ONLY) == set(IGNORED_FIELDS)


async def test_stored_fields_in_an_item_are_ignored(
    creator: TaskCreator, repo: TaskRepository
) -> None:
    """Items may carry every other column (as a stored task read back does); the task
    is created fresh from its definition: pending, no outcome, no copy links."""
    tasks = [{**item, **STORED_ONLY} for item in copy.deepcopy(A2A_TREE)]
    node = await creator.create_task_tree_from_array(tasks)
    for task in node.tasks():
        stored = await repo.get_task_by_id(task.id)
        assert (stored.status, stored.result, stored.error, stored.error_type) == (
            TaskStatus.PENDING,
            None,
            None,
            None,
        )
        assert (stored.progress, stored.original_task_id, stored.has_copy) == (0.0, None, False)
        assert (stored.attempt, stored.started_at, stored.completed_at) == (0, None, None)
        assert stored.has_children is (task.id == "parent-task")
        assert stored.tree_id == node.task.tree_id


async def test_a_stored_tree_read_back_is_a_valid_array(
    creator: TaskCreator, repo: TaskRepository
) -> None:
    """to_dict() of every task of a tree, with fresh ids, creates the same tree again."""
    node = await creator.create_task_tree_from_array(copy.deepcopy(A2A_TREE))
    await repo.update_task_status("child-1", TaskStatus.COMPLETED, result={"cpu": 1})
    rows = [task.to_dict() for task in (await repo.build_task_tree(node.task.id)).tasks()]
    renamed = {row["id"]: f"again-{row['id']}" for row in rows}
    for row in rows:
        row["id"] = renamed[row["id"]]
        row["parent_id"] = renamed.get(row["parent_id"])
        row["dependencies"] = [{**d, "id": renamed[d["id"]]} for d in row["dependencies"]]
    again = await creator.create_task_tree_from_array(rows)
    assert [t.id for t in again.tasks()] == ["again-parent-task", "again-child-1", "again-child-2"]
    assert {t.status for t in again.tasks()} == {TaskStatus.PENDING}


@pytest.mark.parametrize(
    "dependency",
    [{"name": "fetch"}, {"name": "fetch", "required": False}, {"id": "fetch", "name": "x"}],
    ids=["name", "name with required", "id wins"],
)
async def test_dependencies_by_name(creator: TaskCreator, dependency: dict[str, Any]) -> None:
    """In an array without ids a dependency may be written {"name": ...}; with both
    keys, "id" is the reference (as 0.9.0)."""
    node = await creator.create_task_tree_from_array(
        [
            {"name": "root"},
            {"name": "fetch", "parent_id": "root"},
            {"name": "parse", "parent_id": "root", "dependencies": [dependency]},
        ]
    )
    fetch, parse = (child.task for child in node.children)
    assert parse.dependencies == [
        {"id": fetch.id, "required": dependency.get("required", True), "type": "result"}
    ]


async def test_dependencies_by_name_in_an_array_with_ids(creator: TaskCreator) -> None:
    """With ids, the reference in "name" is an id, as every reference of such an array."""
    node = await creator.create_task_tree_from_array(
        [
            {"id": "r", "name": "root"},
            {"id": "a", "name": "fetch", "parent_id": "r"},
            {"id": "b", "name": "parse", "parent_id": "r", "dependencies": [{"name": "a"}]},
        ]
    )
    assert node.children[1].task.dependencies[0]["id"] == "a"


@pytest.mark.parametrize(
    ("tasks", "error", "words"),
    [
        (
            [{"name": "r"}, {"name": "c", "parent_id": "r", "dependencies": [{"name": "zz"}]}],
            DependencyError,
            ("'zz'",),
        ),
        (
            [{"name": "r", "dependencies": [{"required": True}]}],
            DependencyError,
            ("'id'",),
        ),
        ([{"name": "r", "colour": "red"}], TaskValidationError, ("'colour'", "ignored")),
        ([{"name": "r", "children": []}], TaskValidationError, ("'children'",)),
    ],
    ids=["unknown name", "neither id nor name", "unknown field", "nested children"],
)
async def test_refused_items_write_nothing(
    db, creator: TaskCreator, repo: TaskRepository, tasks: Any, error: type, words: Any
) -> None:
    """Keys that are no column (typos, nested children) are still refused, whole."""
    async with refused(db, repo, error, *words):
        await creator.create_task_tree_from_array(tasks)


async def test_a_root_cannot_depend_on_another_tree(db, repo: TaskRepository) -> None:
    """A task without a parent starts a new tree; the error says why it cannot depend on
    a task of another tree."""
    await repo.create_task(name="other", id="other")
    async with refused(db, repo, DependencyError, "'other'", "other trees"):
        await repo.create_task(name="new root", id="new", dependencies=["other"])


DEPTH = 5000


async def test_a_5000_deep_chain(creator: TaskCreator, repo: TaskRepository) -> None:
    """Every walk over a tree is iterative: a chain 5,000 tasks deep is created, read,
    derived, turned into dicts, copied and deleted."""
    chain = [{"id": "t0", "name": "t0"}] + [
        {"id": f"t{i}", "name": f"t{i}", "parent_id": f"t{i - 1}", "dependencies": [f"t{i - 1}"]}
        for i in range(1, DEPTH)
    ]
    await creator.create_task_tree_from_array(chain)
    await repo.update_task_status(f"t{DEPTH - 1}", TaskStatus.COMPLETED)
    node = await repo.build_task_tree("t0")
    assert (node.calculate_status(), node.calculate_progress()) == (TaskStatus.COMPLETED, 1.0)
    data = node.to_dict()
    for _ in range(DEPTH - 1):
        (data,) = data["children"]
    assert (data["id"], data["children"]) == (f"t{DEPTH - 1}", [])
    assert len(await repo.get_all_children_recursive("t0")) == DEPTH - 1
    assert len(await repo.find_dependent_tasks_recursive("t0")) == DEPTH - 1
    # The middle task needs its pending predecessor, which needs its own, up to t0.
    copied = await TaskCreator(repo.db).create_task_copy(f"t{DEPTH // 2}")
    assert len(copied.tasks()) == DEPTH
    assert await repo.delete_task("t0") is True
