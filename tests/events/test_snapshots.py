"""Snapshots written incrementally are byte for byte the snapshots written whole."""

from __future__ import annotations

from typing import Any

import msgpack

from aipartnerupflow.events.domain.planning import plan_tree
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.mapper import LogMapper
from aipartnerupflow.events.store.snapshots import SnapshotWriter

CAUSE = {"user_id": "u"}


def whole(mapper: LogMapper, tree: TaskTree, stored: bytes) -> bytes:
    """The snapshot encoded whole, at the time the writer's snapshot was taken."""
    snapshot = TaskTree.Snapshot.take(tree)
    vars(snapshot)["timestamp"] = msgpack.unpackb(stored, timestamp=3)["timestamp"]
    return mapper.to_row(snapshot)[5]


def saved(writer: SnapshotWriter, tree: TaskTree) -> None:
    """What a save does with a tree's new events."""
    writer.saw(tree, list(tree.pending_events))
    tree.pending_events.clear()


def plant(count: int) -> TaskTree:
    specs: list[dict[str, Any]] = [{"id": "root", "name": "root"}]
    specs += [{"id": f"t{i}", "name": f"t{i}", "parent_id": "root"} for i in range(count)]
    return TaskTree.plant(plan_tree(specs), CAUSE)


def test_each_snapshot_equals_the_whole_encoding_as_tasks_change() -> None:
    mapper = LogMapper()
    writer = SnapshotWriter(mapper)
    tree = plant(20)
    saved(writer, tree)
    steps = [
        lambda: tree.set_status("t1", TaskStatus.IN_PROGRESS, CAUSE),
        lambda: tree.set_status("t1", TaskStatus.COMPLETED, CAUSE, result={"n": [1, 2]}),
        lambda: tree.update_field("t5", "priority", 3, CAUSE),
        lambda: tree.delete("t7", CAUSE),
        lambda: tree.add_task({"id": "t7", "name": "again", "parent_id": "t2"}, CAUSE),
        lambda: tree.set_status("root", TaskStatus.FAILED, CAUSE, error="x"),
    ]
    for step in [lambda: None, *steps]:
        step()
        saved(writer, tree)
        tree_id, version, task_id, _, topic, stored = writer.snapshot(tree)
        assert (tree_id, version, task_id) == (tree.id, tree.version, None)
        assert stored == whole(mapper, tree, stored)
        assert mapper.decode(tree_id, version, topic, stored).mutate(None).tasks == tree.tasks


def test_events_it_did_not_see_make_it_encode_the_tree_whole_again() -> None:
    mapper = LogMapper()
    writer = SnapshotWriter(mapper)
    tree = plant(5)
    saved(writer, tree)
    writer.snapshot(tree)
    # Another writer's events: applied to the tree, never passed through saw().
    tree.set_status("t3", TaskStatus.IN_PROGRESS, CAUSE)
    tree.pending_events.clear()
    tree.set_status("t4", TaskStatus.IN_PROGRESS, CAUSE)
    saved(writer, tree)
    stored = writer.snapshot(tree)[5]
    assert stored == whole(mapper, tree, stored)


def test_rows_kept_are_bounded_least_recent_tree_first() -> None:
    writer = SnapshotWriter(LogMapper(), kept_rows=30)
    trees = [plant(9) for _ in range(4)]  # 10 tasks each
    for tree in trees:
        saved(writer, tree)
        writer.snapshot(tree)
    assert writer.kept_trees == [tree.id for tree in trees[1:]]
    writer.forget(trees[2].id)
    assert writer.kept_trees == [trees[1].id, trees[3].id]
