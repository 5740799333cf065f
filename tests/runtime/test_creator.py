"""TaskCreator: whole trees all or nothing, and copies for re-execution."""

from __future__ import annotations

from typing import Any

import pytest
from support.samples import A2A_TREE

from aipartnerupflow import (
    DependencyError,
    DuplicateTaskError,
    TaskCreator,
    TaskRepository,
    TaskValidationError,
    TreeStructureError,
    log_position,
)


async def test_tree_with_ids(creator: TaskCreator, repo: TaskRepository) -> None:
    node = await creator.create_task_tree_from_array(A2A_TREE)
    assert node.task.id == "parent-task" and node.task.has_children
    assert [c.task.id for c in node.children] == ["child-1", "child-2"]
    stored = await repo.get_task_by_id("child-2")
    assert stored.dependencies == [{"id": "child-1", "required": True, "type": "result"}]
    assert stored.tree_id == node.task.tree_id


async def test_tree_without_ids_uses_names_as_references(creator: TaskCreator) -> None:
    node = await creator.create_task_tree_from_array(
        [
            {"name": "fetch"},
            {"name": "parse", "parent_id": "fetch", "dependencies": ["fetch"]},
        ]
    )
    child = node.children[0].task
    assert child.parent_id == node.task.id != "fetch"
    assert child.dependencies[0]["id"] == node.task.id


BAD_ARRAYS: list[tuple[str, Any, type[Exception], str]] = [
    ("empty", [], TaskValidationError, "non-empty"),
    ("not a list", {"name": "x"}, TaskValidationError, "list"),
    ("not an object", ["x"], TaskValidationError, "#0"),
    (
        "duplicate id",
        [{"id": "a", "name": "a"}, {"id": "a", "name": "b", "parent_id": "a"}],
        DuplicateTaskError,
        "'a'",
    ),
    (
        "ids on some",
        [{"id": "a", "name": "a"}, {"name": "b", "parent_id": "a"}],
        TaskValidationError,
        "#1",
    ),
    ("duplicate names", [{"name": "a"}, {"name": "a"}], DuplicateTaskError, "'a'"),
    (
        "unknown parent",
        [{"id": "a", "name": "a"}, {"id": "b", "name": "b", "parent_id": "z"}],
        TreeStructureError,
        "'z'",
    ),
    (
        "unknown dependency",
        [{"id": "a", "name": "a", "dependencies": ["z"]}],
        DependencyError,
        "'z'",
    ),
    (
        "dependency cycle",
        [
            {"id": "a", "name": "a", "dependencies": ["b"]},
            {"id": "b", "name": "b", "parent_id": "a", "dependencies": ["a"]},
        ],
        DependencyError,
        "cycle",
    ),
    (
        "parent cycle",
        [
            {"id": "r", "name": "r"},
            {"id": "a", "name": "a", "parent_id": "b"},
            {"id": "b", "name": "b", "parent_id": "a"},
        ],
        TreeStructureError,
        "reachable",
    ),
    (
        "two roots",
        [{"id": "a", "name": "a"}, {"id": "b", "name": "b"}],
        TreeStructureError,
        "exactly one root",
    ),
    ("no root", [{"id": "a", "name": "a", "parent_id": "a"}], TreeStructureError, "root"),
    ("missing name", [{"id": "a"}], TaskValidationError, "'name'"),
    (
        "priority type",
        [{"id": "a", "name": "a", "priority": "1"}],
        TaskValidationError,
        "'priority'",
    ),
    ("inputs type", [{"id": "a", "name": "a", "inputs": [1]}], TaskValidationError, "'inputs'"),
    (
        "dependencies type",
        [{"id": "a", "name": "a", "dependencies": {"id": "b"}}],
        TaskValidationError,
        "'dependencies'",
    ),
    ("unknown field", [{"id": "a", "name": "a", "colour": "red"}], TaskValidationError, "'colour'"),
]


@pytest.mark.parametrize(
    ("case", "tasks", "error", "word"), BAD_ARRAYS, ids=[case[0] for case in BAD_ARRAYS]
)
async def test_bad_arrays_write_nothing(
    db,
    creator: TaskCreator,
    repo: TaskRepository,
    case: str,
    tasks: Any,
    error: type[Exception],
    word: str,
) -> None:
    before = log_position(db)
    with pytest.raises(error) as caught:
        await creator.create_task_tree_from_array(tasks)
    assert isinstance(caught.value, ValueError)
    assert word in str(caught.value)
    assert log_position(db) == before
    assert await repo.list_tasks() == []


async def test_existing_id_is_an_error_not_a_new_id(db, creator: TaskCreator) -> None:
    await creator.create_task_tree_from_array([{"id": "a", "name": "a"}])
    before = log_position(db)
    with pytest.raises(DuplicateTaskError, match="'a'"):
        await creator.create_task_tree_from_array(
            [{"id": "fresh", "name": "f"}, {"id": "a", "name": "again", "parent_id": "fresh"}]
        )
    assert log_position(db) == before
