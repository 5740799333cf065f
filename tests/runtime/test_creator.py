"""TaskCreator: whole trees from arrays (all or nothing) and copies for re-execution."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from support.data import all_rows, node_rows, refused
from support.samples import A2A_TREE

from aipartnerupflow import (
    DependencyError,
    DuplicateTaskError,
    TaskCreator,
    TaskRepository,
    TaskStatus,
    TaskTreeNode,
    TaskValidationError,
    TreeStructureError,
    history,
)


def ids_of(node: TaskTreeNode) -> list[str]:
    return [task.id for task in node.tasks()]


def dep_ids(task: Any) -> list[str]:
    return [dep["id"] for dep in task.dependencies]


# ------------------------------------------------------------------ happy paths


async def test_tree_with_ids(db, creator: TaskCreator, repo: TaskRepository) -> None:
    """The reference's A2A tree is stored as given, in one tree, and returned as a node."""
    node = await creator.create_task_tree_from_array(copy.deepcopy(A2A_TREE))
    assert isinstance(node, TaskTreeNode)
    assert node.task.id == "parent-task" and node.task.has_children is True
    assert [child.task.id for child in node.children] == ["child-1", "child-2"]
    assert all(child.children == [] for child in node.children)
    assert dep_ids(node.task) == ["child-1", "child-2"]
    child_2 = await repo.get_task_by_id("child-2")
    assert child_2.dependencies == [{"id": "child-1", "required": True, "type": "result"}]
    assert (child_2.parent_id, child_2.user_id, child_2.inputs) == (
        "parent-task",
        "user123",
        {"resource": "memory"},
    )
    assert child_2.schemas == {"method": "system_info_executor"}
    assert {task.tree_id for task in node.tasks()} == {node.task.tree_id}
    assert node_rows(node) == await all_rows(repo)
    # One tree, one transaction: its events follow each other in the log.
    entries = history(db, tree_id=node.task.tree_id)
    assert [(e["type"], e["task_id"]) for e in entries] == [
        ("tree_created", "parent-task"),
        ("created", "parent-task"),
        ("created", "child-1"),
        ("created", "child-2"),
    ]
    assert [e["position"] for e in entries] == [1, 2, 3, 4]
    assert entries[1]["cause"] == {"user_id": "user123"}


async def test_tree_without_ids_uses_names_as_references(creator: TaskCreator) -> None:
    """Without ids, names stand for parents and dependencies; every task gets a new id."""
    node = await creator.create_task_tree_from_array(
        [
            {"name": "report", "dependencies": ["fetch", {"id": "parse", "required": False}]},
            {"name": "fetch", "parent_id": "report"},
            {"name": "parse", "parent_id": "report", "dependencies": ["fetch"]},
        ]
    )
    tasks = {task.name: task for task in node.tasks()}
    for task in tasks.values():
        uuid.UUID(task.id)
    assert tasks["fetch"].parent_id == tasks["parse"].parent_id == tasks["report"].id
    assert dep_ids(tasks["parse"]) == [tasks["fetch"].id]
    assert tasks["report"].dependencies == [
        {"id": tasks["fetch"].id, "required": True, "type": "result"},
        {"id": tasks["parse"].id, "required": False, "type": "result"},
    ]
    assert [child.task.name for child in node.children] == ["fetch", "parse"]


async def test_tree_children_listed_before_parents(creator: TaskCreator) -> None:
    """The array's order does not matter: parents are recorded before their children,
    and each level keeps the array's order."""
    node = await creator.create_task_tree_from_array(
        [
            {"id": "leaf", "name": "leaf", "parent_id": "mid"},
            {"id": "mid", "name": "mid", "parent_id": "root"},
            {"id": "second", "name": "second", "parent_id": "root"},
            {"id": "root", "name": "root"},
        ]
    )
    assert ids_of(node) == ["root", "mid", "leaf", "second"]
    assert [child.task.id for child in node.children] == ["mid", "second"]
    assert node.children[0].task.has_children is True


async def test_tree_fields_and_defaults(creator: TaskCreator) -> None:
    """Every definable field is stored; missing ones take the defaults."""
    node = await creator.create_task_tree_from_array(
        [
            {
                "id": "r",
                "name": "r",
                "user_id": "u",
                "priority": 0,
                "inputs": {"a": 1},
                "params": {"p": True},
                "schemas": {"method": "m"},
            },
            {"id": "c", "name": "c", "parent_id": "r"},
        ]
    )
    root, child = node.task, node.children[0].task
    assert (root.user_id, root.priority, root.inputs, root.params, root.schemas) == (
        "u",
        0,
        {"a": 1},
        {"p": True},
        {"method": "m"},
    )
    assert (child.user_id, child.priority, child.inputs, child.status, child.progress) == (
        None,
        1,
        {},
        TaskStatus.PENDING,
        0.0,
    )


# ------------------------------------------------------------------- rejections


def tree(*tasks: dict[str, Any]) -> list[dict[str, Any]]:
    return list(tasks)


BAD_ARRAYS: list[tuple[str, Any, type[Exception], tuple[str, ...]]] = [
    ("empty list", [], TaskValidationError, ("non-empty",)),
    ("not a list", {"id": "a", "name": "a"}, TaskValidationError, ("list",)),
    ("a string", "tasks", TaskValidationError, ("list",)),
    ("entry not an object", ["a"], TaskValidationError, ("#0",)),
    (
        "duplicate ids",
        tree({"id": "a", "name": "a"}, {"id": "a", "name": "b", "parent_id": "a"}),
        DuplicateTaskError,
        ("'a'", "'id'"),
    ),
    (
        "mixed ids and no ids",
        tree({"id": "a", "name": "a"}, {"name": "b", "parent_id": "a"}),
        TaskValidationError,
        ("#1", "'b'", "'id'"),
    ),
    (
        "duplicate names without ids",
        tree({"name": "a"}, {"name": "a", "parent_id": "a"}),
        DuplicateTaskError,
        ("'a'", "'name'"),
    ),
    (
        "duplicate names, also two roots",
        tree({"name": "a"}, {"name": "a"}),
        DuplicateTaskError,
        ("'a'", "'name'"),
    ),
    (
        "unknown parent",
        tree({"id": "a", "name": "a"}, {"id": "b", "name": "b", "parent_id": "z"}),
        TreeStructureError,
        ("'b'", "'parent_id'", "'z'"),
    ),
    (
        "unknown dependency",
        tree(
            {"id": "a", "name": "a"},
            {"id": "b", "name": "b", "parent_id": "a", "dependencies": ["z"]},
        ),
        DependencyError,
        ("'b'", "'dependencies'", "'z'"),
    ),
    (
        "dependency on itself",
        tree({"id": "a", "name": "a", "dependencies": ["a"]}),
        DependencyError,
        ("'a'", "'dependencies'", "itself"),
    ),
    (
        "dependency cycle",
        tree(
            {"id": "a", "name": "a"},
            {"id": "b", "name": "b", "parent_id": "a", "dependencies": ["c"]},
            {"id": "c", "name": "c", "parent_id": "a", "dependencies": ["b"]},
        ),
        DependencyError,
        ("'dependencies'", "cycle", "b -> c -> b"),
    ),
    (
        "parent cycle beside a root",
        tree(
            {"id": "r", "name": "r"},
            {"id": "a", "name": "a", "parent_id": "b"},
            {"id": "b", "name": "b", "parent_id": "a"},
        ),
        TreeStructureError,
        ("'a'", "'parent_id'", "reachable"),
    ),
    (
        "two roots",
        tree({"id": "a", "name": "a"}, {"id": "b", "name": "b"}),
        TreeStructureError,
        ("'a'", "'b'", "'parent_id'", "one root"),
    ),
    (
        "no root",
        tree(
            {"id": "a", "name": "a", "parent_id": "b"}, {"id": "b", "name": "b", "parent_id": "a"}
        ),
        TreeStructureError,
        ("'a'", "'parent_id'", "root"),
    ),
    (
        "own parent",
        tree({"id": "a", "name": "a", "parent_id": "a"}),
        TreeStructureError,
        ("'a'", "'parent_id'", "root"),
    ),
    ("missing name", tree({"id": "a"}), TaskValidationError, ("'a'", "'name'")),
    ("empty name", tree({"id": "a", "name": " "}), TaskValidationError, ("'a'", "'name'")),
    (
        "priority as text",
        tree({"id": "a", "name": "a", "priority": "1"}),
        TaskValidationError,
        ("'a'", "'priority'"),
    ),
    (
        "inputs as a list",
        tree({"id": "a", "name": "a", "inputs": [1]}),
        TaskValidationError,
        ("'a'", "'inputs'"),
    ),
    (
        "dependencies as a dict",
        tree(
            {"id": "a", "name": "a"},
            {"id": "b", "name": "b", "parent_id": "a", "dependencies": {"id": "a"}},
        ),
        TaskValidationError,
        ("'b'", "'dependencies'"),
    ),
    (
        "params not JSON",
        tree({"id": "a", "name": "a", "params": {"x": {1, 2}}}),
        TaskValidationError,
        ("'a'", "'params'"),
    ),
    (
        "unknown field",
        tree({"id": "a", "name": "a", "colour": "red"}),
        TaskValidationError,
        ("'a'", "'colour'"),
    ),
    (
        "priority as text, without ids",
        tree({"name": "a"}, {"name": "b", "parent_id": "a", "priority": "x"}),
        TaskValidationError,
        ("'b'", "'priority'"),
    ),
    (
        "unknown parent, without ids",
        tree({"name": "a"}, {"name": "b", "parent_id": "z"}),
        TreeStructureError,
        ("'b'", "'parent_id'", "'z'"),
    ),
    (
        "dependency cycle, without ids",
        tree(
            {"name": "a", "dependencies": ["b"]},
            {"name": "b", "parent_id": "a", "dependencies": ["a"]},
        ),
        DependencyError,
        ("'dependencies'", "a -> b -> a"),
    ),
    (
        "two roots, without ids",
        tree({"name": "a"}, {"name": "b"}),
        TreeStructureError,
        ("'a'", "'b'", "'parent_id'"),
    ),
    (
        "missing name, without ids",
        tree({"name": "a"}, {"parent_id": "a"}),
        TaskValidationError,
        ("#1", "'name'"),
    ),
    (
        "name not text, without ids",
        tree({"name": "a"}, {"name": ["b"], "parent_id": "a"}),
        TaskValidationError,
        ("#1", "'name'"),
    ),
    (
        "two tasks without names nor ids",
        tree({"priority": 1}, {"priority": 2}),
        TaskValidationError,
        ("#0", "'name'"),
    ),
    (
        "id already in the database",
        tree({"id": "fresh", "name": "f"}, {"id": "existing", "name": "e", "parent_id": "fresh"}),
        DuplicateTaskError,
        ("'existing'", "'id'"),
    ),
]


@pytest.mark.parametrize(
    ("case", "tasks", "error", "words"), BAD_ARRAYS, ids=[case[0] for case in BAD_ARRAYS]
)
async def test_bad_arrays_write_nothing(
    db,
    creator: TaskCreator,
    repo: TaskRepository,
    case: str,
    tasks: Any,
    error: type[Exception],
    words: tuple[str, ...],
) -> None:
    """Each bad array raises a typed ValueError naming the task and field at fault; the
    log (positions and rows) and the task list stay exactly as they were."""
    await creator.create_task_tree_from_array([{"id": "existing", "name": "already here"}])
    async with refused(db, repo, error, *words):
        await creator.create_task_tree_from_array(tasks)


async def test_rejected_array_can_be_fixed_and_sent_again(
    creator: TaskCreator, repo: TaskRepository
) -> None:
    """Nothing of a rejected array lingers: the corrected array uses the same ids."""
    bad = [{"id": "a", "name": "a"}, {"id": "b", "name": "b", "parent_id": "a", "priority": -1}]
    with pytest.raises(TaskValidationError):
        await creator.create_task_tree_from_array(bad)
    bad[1]["priority"] = 2
    node = await creator.create_task_tree_from_array(bad)
    assert ids_of(node) == ["a", "b"]
    assert (await repo.get_task_by_id("b")).priority == 2
