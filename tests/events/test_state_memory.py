"""Task states and the models handed out share their keys: a task of a large tree costs
a third of the memory a plain dict of its columns would."""

from __future__ import annotations

import sys
from typing import Any

from aipartnerupflow import Database, TaskCreator, TaskRepository
from aipartnerupflow.events.domain.tree import TASK_COLUMNS, TaskTree


def compact(values: dict[str, Any]) -> bool:
    """Smaller than a plain dict with the same items, which does not share its keys."""
    return sys.getsizeof(values) < sys.getsizeof(dict(values))


def test_states_stay_compact_through_changes_copies_and_snapshots() -> None:
    specs: list[dict[str, Any]] = [{"id": "root", "name": "r"}]
    specs += [{"id": f"c{i}", "name": "c", "parent_id": "root"} for i in range(3)]
    tree = TaskTree.plant(specs, cause={})
    tree.set_status("c0", "in_progress", cause={})
    tree.set_status("c0", "completed", cause={}, result={"n": 1})
    tree.update("c1", {"inputs": {"x": 1}, "priority": 3}, cause={})
    assert all(list(state) == list(TASK_COLUMNS) for state in tree.tasks.values())
    assert all(compact(state) for state in tree.tasks.values())
    assert all(compact(state.copy()) for state in tree.tasks.values())
    loaded = TaskTree.Snapshot.take(tree).mutate(None)
    assert loaded.tasks == tree.tasks
    assert all(compact(state) for state in loaded.tasks.values())


async def test_models_handed_out_are_compact(db: Database) -> None:
    specs = [{"id": "root", "name": "r"}, {"id": "a", "name": "a", "parent_id": "root"}]
    node = await TaskCreator(db).create_task_tree_from_array(specs)
    repo = TaskRepository(db)
    models = [
        node.task,
        node.children[0].task,
        await repo.get_task_by_id("a"),
        *await repo.list_tasks(),
        *(n.task for n in (await repo.build_task_tree("root")).children),
    ]
    assert len(models) == 6
    assert all(compact(model.__dict__) for model in models)
    assert (await repo.get_task_by_id("a")).to_dict() == node.children[0].task.to_dict()
