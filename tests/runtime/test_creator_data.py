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
    TaskNotFoundError,
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
        ("'a'", "'parent_id'"),
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


# ------------------------------------------------------------------------ copies


@pytest.fixture
async def a2a(creator: TaskCreator) -> TaskTreeNode:
    return await creator.create_task_tree_from_array(copy.deepcopy(A2A_TREE))


async def test_copy_without_children(
    db, a2a: TaskTreeNode, creator: TaskCreator, repo: TaskRepository
) -> None:
    """children=False copies just the task, as a pending root of a new tree, with a new
    id, original_task_id set, and no dependencies (they pointed outside the copy)."""
    await repo.update_task_status("child-2", TaskStatus.IN_PROGRESS, progress=0.5)
    await repo.update_task_status("child-2", TaskStatus.FAILED, error="boom", error_type="E")
    before = await all_rows(repo)
    node = await creator.create_task_copy("child-2")
    copied = node.task
    assert node.children == [] and copied.has_children is False
    assert copied.id not in before and copied.original_task_id == "child-2"
    assert copied.tree_id != a2a.task.tree_id and copied.parent_id is None
    assert (copied.status, copied.progress, copied.result, copied.error) == (
        "pending",
        0.0,
        None,
        None,
    )
    assert (copied.started_at, copied.completed_at, copied.attempt) == (None, None, 0)
    assert (copied.name, copied.user_id, copied.inputs, copied.schemas, copied.priority) == (
        "Child Task 2",
        "user123",
        {"resource": "memory"},
        {"method": "system_info_executor"},
        1,
    )
    assert copied.dependencies == [] and copied.has_copy is False
    after = await all_rows(repo)
    assert after[copied.id] == copied.to_dict()
    assert after["child-2"]["has_copy"] is True
    # Only has_copy (and updated_at) of the original changed; nothing else did.
    for task_id, row in before.items():
        changed = {k for k in row if row[k] != after[task_id][k]}
        assert changed == ({"has_copy", "updated_at"} if task_id == "child-2" else set())
    assert history(db, task_id="child-2")[-1]["type"] == "copied"


async def test_copy_accepts_a_model(a2a: TaskTreeNode, creator: TaskCreator, repo) -> None:
    """The task to copy may be given as a TaskModel."""
    node = await creator.create_task_copy(await repo.get_task_by_id("child-1"))
    assert node.task.original_task_id == "child-1"


async def test_copy_with_children_copies_dependencies_once(
    a2a: TaskTreeNode, creator: TaskCreator, repo: TaskRepository
) -> None:
    """children=True copies the direct children and the tasks they depend on, each once,
    with dependencies remapped to the copies and has_children right on the copy root."""
    node = await creator.create_task_copy("parent-task", children=True)
    copies = {task.original_task_id: task for task in node.tasks()}
    assert len(node.tasks()) == 3
    assert sorted(copies) == ["child-1", "child-2", "parent-task"]
    new = {original: task.id for original, task in copies.items()}
    assert not set(new.values()) & {"parent-task", "child-1", "child-2"}
    assert node.task is copies["parent-task"] and node.task.has_children is True
    assert [child.task.original_task_id for child in node.children] == ["child-1", "child-2"]
    assert dep_ids(copies["parent-task"]) == [new["child-1"], new["child-2"]]
    assert dep_ids(copies["child-2"]) == [new["child-1"]]
    assert copies["child-1"].dependencies == []
    assert {child.task.parent_id for child in node.children} == {new["parent-task"]}
    assert {task.tree_id for task in node.tasks()} == {node.task.tree_id} != {a2a.task.tree_id}
    assert all(task.status == TaskStatus.PENDING for task in node.tasks())
    rows = await all_rows(repo)
    assert all(rows[original]["has_copy"] for original in new)
    assert {task_id: rows[task_id] for task_id in new.values()} == node_rows(node)


async def test_copy_with_children_pulls_in_dependencies_from_elsewhere(
    creator: TaskCreator, repo: TaskRepository
) -> None:
    """A dependency outside the copied subtree is copied once, under the copy root;
    tasks nobody needs (siblings, grandchildren) are left out."""
    await creator.create_task_tree_from_array(
        [
            {"id": "r", "name": "r"},
            {"id": "x", "name": "x", "parent_id": "r"},
            {"id": "d", "name": "d", "parent_id": "r"},
            {"id": "unused", "name": "unused", "parent_id": "r"},
            {"id": "c1", "name": "c1", "parent_id": "x", "dependencies": ["d"]},
            {"id": "c2", "name": "c2", "parent_id": "x", "dependencies": ["d", "c1"]},
            {"id": "g", "name": "g", "parent_id": "c1"},
        ]
    )
    node = await creator.create_task_copy("x", children=True)
    copies = {task.original_task_id: task for task in node.tasks()}
    assert sorted(copies) == ["c1", "c2", "d", "x"]
    new = {original: task.id for original, task in copies.items()}
    assert [child.task.original_task_id for child in node.children] == ["d", "c1", "c2"]
    assert {copies[t].parent_id for t in ("d", "c1", "c2")} == {new["x"]}
    assert dep_ids(copies["c1"]) == [new["d"]]
    assert dep_ids(copies["c2"]) == [new["d"], new["c1"]]
    has_copy = {tid for tid, row in (await all_rows(repo)).items() if row["has_copy"]}
    assert has_copy == {"x", "c1", "c2", "d"}


async def test_copy_of_a_copy(a2a: TaskTreeNode, creator: TaskCreator, repo) -> None:
    """A copy can be copied again; it points at the copy it was made from."""
    first = await creator.create_task_copy("child-1")
    second = await creator.create_task_copy(first.task.id)
    assert second.task.original_task_id == first.task.id
    assert (await repo.get_task_by_id(first.task.id)).has_copy is True


async def test_copy_of_unknown_task(db, a2a: TaskTreeNode, creator: TaskCreator, repo) -> None:
    """Copying a task that does not exist is a TaskNotFoundError and writes nothing."""
    async with refused(db, repo, TaskNotFoundError, "'ghost'"):
        await creator.create_task_copy("ghost", children=True)
