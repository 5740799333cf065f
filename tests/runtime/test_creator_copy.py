"""TaskCreator.create_task_copy: a copy of a task tree for re-execution, as 0.9.0 makes
it (the task's subtree plus every task depending on it), rooted at their lowest common
ancestor, with completed dependencies from outside kept as they are."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from support.data import all_rows, node_rows, refused
from support.samples import A2A_TREE

from aipartnerupflow import (
    BaseTask,
    TaskCreator,
    TaskManager,
    TaskNotFoundError,
    TaskRepository,
    TaskStatus,
    TaskTreeNode,
    get_registry,
    history,
)

P, C, F = TaskStatus.PENDING, TaskStatus.COMPLETED, TaskStatus.FAILED


def by_original(node: TaskTreeNode) -> dict[str, Any]:
    return {task.original_task_id: task for task in node.tasks()}


def shape(node: TaskTreeNode) -> dict[str, tuple[str | None, str, list[str]]]:
    """``{original id: (original id of the parent, status, original ids of the
    dependencies)}`` of a copy: its structure told in the original's names."""
    original = {task.id: task.original_task_id for task in node.tasks()}
    return {
        task.original_task_id: (
            original.get(task.parent_id),
            task.status,
            [original[dep["id"]] for dep in task.dependencies],
        )
        for task in node.tasks()
    }


def tree(*rows: tuple[str, str | None, list[str]]) -> list[dict[str, Any]]:
    """A task array from ``(id, parent id, dependency ids)`` rows."""
    return [
        {"id": tid, "name": tid, "parent_id": parent, "dependencies": deps}
        for tid, parent, deps in rows
    ]


@pytest.fixture
async def a2a(creator: TaskCreator) -> TaskTreeNode:
    return await creator.create_task_tree_from_array(copy.deepcopy(A2A_TREE))


async def test_copy_of_a_task_takes_its_dependents_and_their_common_ancestor(
    db, a2a: TaskTreeNode, creator: TaskCreator, repo: TaskRepository
) -> None:
    """Copying child-1 copies child-2 and the parent, which depend on it: the copy is
    rooted at the parent, all pending, with new ids and dependencies on the copies;
    every original gets has_copy and nothing else of it changes."""
    await repo.update_task_status("child-1", C, result={"cpu": 2})
    before = await all_rows(repo)
    node = await creator.create_task_copy("child-1")
    assert shape(node) == {
        "parent-task": (None, P, ["child-1", "child-2"]),
        "child-1": ("parent-task", P, []),
        "child-2": ("parent-task", P, ["child-1"]),
    }
    copies = by_original(node)
    assert node.task is copies["parent-task"] and node.task.has_children
    assert not {task.id for task in node.tasks()} & set(before)
    assert {task.tree_id for task in node.tasks()} == {node.task.tree_id} != {a2a.task.tree_id}
    assert (copies["child-1"].result, copies["child-1"].progress) == (None, 0.0)
    assert copies["child-1"].inputs == {"resource": "cpu"}
    after = await all_rows(repo)
    for task_id, row in before.items():
        changed = {k for k in row if row[k] != after[task_id][k]}
        assert changed == {"has_copy", "updated_at"}
        assert history(db, task_id=task_id)[-1]["type"] == "copied"
    assert {task.id: after[task.id] for task in node.tasks()} == node_rows(node)


@pytest.mark.parametrize("children", [False, True])
async def test_copy_of_the_root_copies_the_whole_tree(
    a2a: TaskTreeNode, creator: TaskCreator, children: bool
) -> None:
    """The root's subtree is the whole tree; children=True adds nothing to it (each
    child already comes with its dependents, each task copied once)."""
    node = await creator.create_task_copy("parent-task", children=children)
    assert shape(node) == {
        "parent-task": (None, P, ["child-1", "child-2"]),
        "child-1": ("parent-task", P, []),
        "child-2": ("parent-task", P, ["child-1"]),
    }


async def test_completed_dependencies_from_outside_keep_their_outcome(
    a2a: TaskTreeNode, creator: TaskCreator, repo: TaskRepository
) -> None:
    """Copying the failed child-2 re-runs it and the parent; child-1, which it needs and
    which completed, comes along completed with its result, so it does not run again."""
    await repo.update_task_status("child-1", C, result={"cpu": 2})
    await repo.update_task_status("child-2", F, error="boom")
    node = await creator.create_task_copy(await repo.get_task_by_id("child-2"))
    assert shape(node) == {
        "parent-task": (None, P, ["child-1", "child-2"]),
        "child-1": ("parent-task", C, []),
        "child-2": ("parent-task", P, ["child-1"]),
    }
    kept = by_original(node)["child-1"]
    original = await repo.get_task_by_id("child-1")
    assert (kept.result, kept.progress, kept.completed_at) == (
        {"cpu": 2},
        1.0,
        original.completed_at,
    )
    assert by_original(node)["child-2"].error is None


async def test_copy_is_rooted_at_the_lowest_common_ancestor(
    creator: TaskCreator, repo: TaskRepository
) -> None:
    """Dependents anywhere in the tree come along, transitively, with the ancestors that
    join them; tasks that are neither (siblings, the tree above) stay out. An upstream
    task that has not completed runs again, with what it needs in turn."""
    await creator.create_task_tree_from_array(
        tree(
            ("top", None, []),
            ("side", "top", []),
            ("r", "top", []),
            ("a", "r", []),
            ("a1", "a", ["up"]),
            ("a2", "a", []),
            ("b", "r", []),
            ("b1", "b", ["a1"]),
            ("b2", "b", ["b1"]),
            ("up", "r", ["done"]),
            ("done", "r", []),
        )
    )
    await repo.update_task_status("done", C, result=7)
    node = await creator.create_task_copy("a1")
    assert shape(node) == {
        "r": (None, P, []),
        "a": ("r", P, []),
        "b": ("r", P, []),
        "up": ("r", P, ["done"]),
        "done": ("r", C, []),
        "a1": ("a", P, ["up"]),
        "b1": ("b", P, ["a1"]),
        "b2": ("b", P, ["b1"]),
    }
    has_copy = {tid for tid, row in (await all_rows(repo)).items() if row["has_copy"]}
    assert has_copy == set(shape(node))


async def test_copy_of_a_copy(a2a: TaskTreeNode, creator: TaskCreator, repo) -> None:
    """A copy can be copied again; its copies point at the copy they were made from."""
    first = await creator.create_task_copy("child-2")
    second = await creator.create_task_copy(first.task.id)
    assert second.task.original_task_id == first.task.id
    assert (await repo.get_task_by_id(first.task.id)).has_copy is True


async def test_copy_of_unknown_task(db, a2a: TaskTreeNode, creator: TaskCreator, repo) -> None:
    """Copying a task that does not exist is a TaskNotFoundError and writes nothing."""
    async with refused(db, repo, TaskNotFoundError, "'ghost'"):
        await creator.create_task_copy("ghost", children=True)


RAN: list[str] = []


class Collect(BaseTask):
    id = "collect"
    name = "collect"
    description = "records that it ran and returns its inputs"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        RAN.append(inputs["tag"])
        return {"tag": inputs["tag"], "seen": sorted(k for k in inputs if k != "tag")}


@pytest.fixture
def collect() -> Iterator[None]:
    RAN.clear()
    get_registry().register_executor(Collect)
    yield
    get_registry().unregister_executor(Collect.id)


async def test_a_copy_runs_without_running_what_it_kept(
    db, collect: None, creator: TaskCreator, repo: TaskRepository
) -> None:
    """Running the copy of a failed task runs it again with the kept dependency's result
    merged into its inputs; the kept task itself does not run again."""
    step = {"schemas": {"method": "collect"}}
    await creator.create_task_tree_from_array(
        [
            {"id": "root", "name": "root", **step, "inputs": {"tag": "root"}},
            {"id": "fetch", "name": "fetch", "parent_id": "root", **step, "inputs": {"tag": "f"}},
            {
                "id": "use",
                "name": "use",
                "parent_id": "root",
                "dependencies": [{"id": "fetch"}],
                **step,
                "inputs": {"tag": "u"},
            },
        ]
    )
    await repo.update_task_status("fetch", C, result={"tag": "f", "seen": []})
    await repo.update_task_status("use", F, error="first try failed")
    node = await creator.create_task_copy("use")
    assert sorted(shape(node)) == ["fetch", "root", "use"]
    outcome = await TaskManager(db).run_tree(node.task.id)
    assert outcome["status"] == C
    assert sorted(RAN) == ["root", "u"]
    used = by_original(await repo.build_task_tree(node.task.id))["use"]
    kept_fetch = by_original(node)["fetch"].id
    assert used.status == C and used.result["seen"] == [kept_fetch]
