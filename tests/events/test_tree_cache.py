"""The log's tree cache is bounded by the tasks it holds, keeps the trees runs pin and
the tree used last, and a session's runs release their pins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aipartnerupflow import Database, TaskCreator, TaskManager
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.cache import TreeCache


def tree(size: int) -> TaskTree:
    specs: list[dict[str, Any]] = [{"id": "root", "name": "r"}]
    specs += [{"id": f"c{i}", "name": "c", "parent_id": "root"} for i in range(size - 1)]
    return TaskTree.plant(specs, cause={})


def test_least_recently_used_trees_go_once_the_tasks_pass_the_bound() -> None:
    cache = TreeCache(max_tasks=10, max_trees=100)
    a, b, c = tree(4), tree(4), tree(4)
    cache.put(a.id, a)
    cache.put(b.id, b)
    cache.get(a.id)  # now b is the least recently used
    cache.put(c.id, c)
    with pytest.raises(KeyError):
        cache.get(b.id)
    assert cache.get(a.id) is a and cache.get(c.id) is c
    assert cache.tasks == 8


def test_a_tree_put_again_counts_its_tasks_as_they_are_now() -> None:
    cache = TreeCache(max_tasks=100, max_trees=100)
    grown = tree(3)
    cache.put(grown.id, grown)
    grown.add_task({"id": "late", "name": "l", "parent_id": "root"}, cause={})
    cache.put(grown.id, grown)
    assert cache.tasks == 4
    cache.get(grown.id, evict=True)
    assert cache.tasks == 0


def test_the_tree_used_last_stays_however_large() -> None:
    cache = TreeCache(max_tasks=10, max_trees=100)
    small, large = tree(2), tree(50)
    cache.put(small.id, small)
    cache.put(large.id, large)
    assert cache.get(large.id) is large
    with pytest.raises(KeyError):
        cache.get(small.id)


def test_pinned_trees_stay_until_unpinned() -> None:
    cache = TreeCache(max_tasks=10, max_trees=100)
    running, other, small = tree(8), tree(8), tree(2)
    cache.put(running.id, running)
    cache.pin(running.id)
    cache.pin(running.id)  # two runs of one tree
    cache.put(other.id, other)
    cache.put(small.id, small)
    # The running tree's tasks do not count: the others fit the bound and stay.
    assert cache.get(running.id) is running and cache.get(other.id) is other
    cache.put(other.id, other)
    cache.unpin(running.id)
    assert cache.pinned == {running.id}
    cache.unpin(running.id)
    assert cache.pinned == frozenset()
    assert cache.get(running.id) is running  # trees leave only as others are put
    cache.put(other.id, other)
    with pytest.raises(KeyError):
        cache.get(running.id)


def test_each_tree_that_leaves_is_reported() -> None:
    gone: list[object] = []
    cache = TreeCache(max_tasks=5, max_trees=2, evicted=gone.append)
    a, b, c = tree(1), tree(1), tree(1)
    for each in (a, b, c):
        cache.put(each.id, each)
    cache.get(b.id, evict=True)  # taken out on purpose: no report
    assert gone == [a.id]


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 6)), max_size=40))
def test_beyond_the_newest_and_the_pinned_the_bounds_hold(steps: list[tuple[int, int]]) -> None:
    cache = TreeCache(max_tasks=12, max_trees=3)
    trees = [tree(size) for size in range(1, 7)]
    pinned = trees[0]
    cache.pin(pinned.id)
    pinned_put = False
    for index, size in steps:
        chosen = trees[index]
        while len(chosen.tasks) < size:
            chosen.add_task(
                {"id": f"t{len(chosen.tasks)}", "name": "t", "parent_id": "root"}, cause={}
            )
        cache.put(chosen.id, chosen)
        pinned_put = pinned_put or chosen is pinned
        kept = dict(cache.cache)
        assert cache.tasks == sum(len(t.tasks) for t in kept.values())
        assert chosen.id in kept
        assert (pinned.id in kept) == pinned_put
        others = [t for key, t in kept.items() if key not in (chosen.id, pinned.id)]
        assert sum(len(t.tasks) for t in others) <= 12
        assert len(others) <= 3


async def test_runs_pin_their_tree_and_release_it(db: Database) -> None:
    tree_node = await TaskCreator(db).create_task_tree_from_array(
        [{"id": "root", "name": "system_info_executor", "inputs": {"resource": "cpu"}}]
    )
    summary = await TaskManager(db).run_tree(tree_node.task.id)
    assert summary["status"] == "completed"
    failed = await TaskCreator(db).create_task_tree_from_array(
        [{"id": "bad", "name": "no_such_executor"}]
    )
    summary = await TaskManager(db).run_tree(failed.task.id)
    assert summary["status"] == "failed"
    assert db.log.tree_cache.pinned == frozenset()
