"""History, time travel, rebuild, snapshots and two sessions on one file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aipartnerupflow import (
    TaskCreator,
    TaskNotFoundError,
    TaskRepository,
    TaskStatus,
    caused_by,
    create_session,
    history,
    log_position,
    rebuild_projections,
    tree_at,
)


async def all_rows(repo: TaskRepository) -> dict[str, dict]:
    return {t.id: t.to_dict() for t in await repo.list_tasks(limit=10**6)}


async def test_history_of_a_task(db, repo: TaskRepository) -> None:
    await repo.create_task(name="t", id="t", user_id="owner")
    with caused_by(user_id="admin", request_id="r1"):
        await repo.update_task_name("t", "renamed")
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    await repo.update_task_status("t", TaskStatus.COMPLETED, result={"x": 1})
    entries = history(db, task_id="t")
    assert [e["type"] for e in entries] == ["created", "updated", "started", "completed"]
    renamed = entries[1]
    assert renamed["changes"]["name"] == {"old": "t", "new": "renamed"}
    assert renamed["cause"] == {"user_id": "admin", "request_id": "r1"}
    assert entries[0]["cause"] == {"user_id": "owner"}
    assert entries[3]["changes"]["result"] == {"old": None, "new": {"x": 1}}
    assert all(e["schema_version"] == 1 and e["task_id"] == "t" for e in entries)
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    assert [e["timestamp"] for e in entries] == sorted(e["timestamp"] for e in entries)


async def test_history_of_a_tree(db, creator: TaskCreator) -> None:
    node = await creator.create_task_tree_from_array(
        [{"id": "r", "name": "r"}, {"id": "c", "name": "c", "parent_id": "r"}]
    )
    entries = history(db, tree_id=node.task.tree_id)
    assert [(e["type"], e["task_id"]) for e in entries] == [
        ("tree_created", "r"),
        ("created", "r"),
        ("created", "c"),
    ]
    with pytest.raises(ValueError, match="exactly one"):
        history(db)
    with pytest.raises(TaskNotFoundError):
        history(db, task_id="nobody")


async def test_tree_at_replays_every_step(db, repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    await repo.create_task(name="child", id="c", parent_id="r")
    seen = []
    for step in (
        lambda: repo.update_task_status("c", TaskStatus.IN_PROGRESS, progress=0.5),
        lambda: repo.update_task_name("c", "renamed"),
        lambda: repo.update_task_status("c", TaskStatus.COMPLETED),
        lambda: repo.update_task_status("r", TaskStatus.FAILED, error="late"),
    ):
        await step()
        seen.append((log_position(db), await all_rows(repo)))
    for position, rows in seen:
        node = tree_at(db, "r", position=position)
        assert {t.id: t.to_dict() for t in node.tasks()} == rows
    assert tree_at(db, "r", position=seen[0][0]).calculate_status() == TaskStatus.IN_PROGRESS
    assert tree_at(db, "r").calculate_status() == TaskStatus.FAILED


async def test_tree_at_by_time_and_before_creation(db, repo: TaskRepository) -> None:
    before = datetime.now(UTC)
    await repo.create_task(name="root", id="r")
    middle = datetime.now(UTC)
    await repo.update_task_name("r", "later")
    assert tree_at(db, "r", at=middle).task.name == "root"
    with pytest.raises(TaskNotFoundError):
        tree_at(db, "r", at=before)
    with pytest.raises(ValueError):
        tree_at(db, "r", position=1, at=middle)


async def test_rebuild_gives_identical_rows(db, repo: TaskRepository, creator: TaskCreator) -> None:
    await creator.create_task_tree_from_array(
        [
            {"id": "r", "name": "r", "inputs": {"k": [1, {"z": None}]}},
            {"id": "a", "name": "a", "parent_id": "r", "dependencies": ["r"]},
            {"id": "b", "name": "b", "parent_id": "r"},
        ]
    )
    await repo.update_task_status("r", TaskStatus.COMPLETED, result={"ok": True})
    await repo.update_task_priority("a", 0)
    await repo.delete_task("b")
    await creator.create_task_copy("r", children=True)
    rows = await all_rows(repo)
    assert rebuild_projections(db) == len(rows)
    assert await all_rows(repo) == rows


async def test_snapshots_keep_long_streams_correct(db, repo: TaskRepository) -> None:
    await repo.create_task(name="long", id="t")
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    marks = {}
    for i in range(1, 1201):
        await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=i / 1200)
        if i in (300, 1100):
            marks[log_position(db)] = i / 1200
    for position, progress in marks.items():
        assert tree_at(db, "t", position=position).task.progress == progress
    other = create_session(db.url)
    try:
        assert (await TaskRepository(other).get_task_by_id("t")).progress == 1.0
    finally:
        other.close()


async def test_two_sessions_write_the_same_tree(db, repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    other = create_session(db.url)
    try:
        other_repo = TaskRepository(other)
        await other_repo.create_task(name="from other", id="o", parent_id="r")
        # The first session's cached tree catches up with the other's event.
        await repo.create_task(name="from first", id="f", parent_id="o")
        assert [t.id for t in await other_repo.get_all_tasks_in_tree("r")] == ["r", "o", "f"]
        assert [
            e["version"] for e in history(db, tree_id=(await repo.get_task_by_id("r")).tree_id)
        ] == [1, 2, 3, 4]
    finally:
        other.close()


def _full_diff(before: dict | None, after: dict | None) -> dict:
    """The changes of one event as the whole tree's fold tells them: every field."""
    if before is None:
        return {f: {"old": None, "new": v} for f, v in (after or {}).items()}
    if after is None:
        return {f: {"old": v, "new": None} for f, v in before.items()}
    return {f: {"old": before[f], "new": v} for f, v in after.items() if before[f] != v}


async def test_history_of_a_task_reads_only_its_events_yet_tells_the_same(
    db, repo: TaskRepository, creator: TaskCreator
) -> None:
    node = await creator.create_task_tree_from_array(
        [
            {"id": "r", "name": "r"},
            {"id": "a", "name": "a", "parent_id": "r"},
            {"id": "a1", "name": "a1", "parent_id": "a"},
            {"id": "b", "name": "b", "parent_id": "r", "dependencies": ["a"]},
        ]
    )
    await repo.update_task_priority("a", 3)
    await repo.create_task(name="a2", id="a2", parent_id="a")
    await repo.update_task_status("a1", TaskStatus.IN_PROGRESS)
    await repo.update_task_status("a1", TaskStatus.IN_PROGRESS, progress=0.5)
    await repo.update_task_status("a1", TaskStatus.FAILED, error="boom")
    await repo.delete_task("a2")
    await repo.create_task(name="a2 again", id="a2", parent_id="a")
    await repo.update_task_status("b", TaskStatus.CANCELLED)
    whole = history(db, tree_id=node.task.tree_id)
    stream = node.task.tree_id
    for entry in whole[1:]:
        version = entry["version"]
        before = db.call(db.log.load_at, stream, version - 1).tasks.get(entry["task_id"])
        after = db.call(db.log.load_at, stream, version).tasks.get(entry["task_id"])
        assert entry["changes"] == _full_diff(before, after), entry
    for task_id in ("r", "a", "a1", "a2", "b"):
        own = [e for e in whole if e["task_id"] == task_id and e["type"] != "tree_created"]
        assert history(db, task_id=task_id) == own
