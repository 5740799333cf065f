"""The log as the source of truth: history, time travel, rebuild, snapshots, and two
sessions writing the same file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from support.data import all_rows, count_snapshots, node_rows

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskNotFoundError,
    TaskRepository,
    TaskStatus,
    TaskValidationError,
    caused_by,
    create_session,
    history,
    log_position,
    rebuild_projections,
    tree_at,
)


def tree_rows(rows: dict[str, dict[str, Any]], tree_id: str) -> dict[str, dict[str, Any]]:
    return {task_id: row for task_id, row in rows.items() if row["tree_id"] == tree_id}


def non_decreasing(values: list[Any]) -> bool:
    return all(a <= b for a, b in pairwise(values))


def strictly_increasing(values: list[Any]) -> bool:
    return all(a < b for a, b in pairwise(values))


@pytest.fixture
def second_session(db: Database) -> Iterator[Database]:
    """Another session on the same database file."""
    other = create_session(db.url)
    yield other
    other.close()


# ---------------------------------------------------------------------- history


async def test_history_of_a_task(db, repo: TaskRepository) -> None:
    """A task's events in order, with old/new values, the schema version and the cause:
    the task's user by default, the caused_by block when there is one."""
    await repo.create_task(name="t", id="t", user_id="owner", inputs={"k": 1})
    with caused_by(user_id="admin", request_id="r1"):
        await repo.update_task_name("t", "renamed")
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.5)
    await repo.update_task_status("t", TaskStatus.COMPLETED, result={"x": 1})
    entries = history(db, task_id="t")
    assert [e["type"] for e in entries] == [
        "created",
        "updated",
        "started",
        "progress",
        "completed",
    ]
    created, renamed, started, progressed, completed = entries
    assert created["changes"]["name"] == {"old": None, "new": "t"}
    assert created["changes"]["inputs"] == {"old": None, "new": {"k": 1}}
    assert renamed["changes"]["name"] == {"old": "t", "new": "renamed"}
    assert set(renamed["changes"]) == {"name", "updated_at"}
    assert started["changes"]["status"] == {"old": "pending", "new": "in_progress"}
    assert started["changes"]["started_at"]["old"] is None
    assert progressed["changes"]["progress"] == {"old": 0.0, "new": 0.5}
    assert completed["changes"]["result"] == {"old": None, "new": {"x": 1}}
    assert completed["changes"]["progress"] == {"old": 0.5, "new": 1.0}
    assert renamed["cause"] == {"user_id": "admin", "request_id": "r1"}
    assert [e["cause"] for e in entries if e is not renamed] == [{"user_id": "owner"}] * 4
    assert all(e["schema_version"] == 1 and e["task_id"] == "t" for e in entries)
    assert len({e["tree_id"] for e in entries}) == 1
    assert strictly_increasing([e["position"] for e in entries])
    assert strictly_increasing([e["version"] for e in entries])
    assert non_decreasing([e["timestamp"] for e in entries])
    assert all(e["timestamp"].tzinfo is not None for e in entries)
    assert entries[-1]["position"] == log_position(db)


async def test_caused_by_nests_and_ends(db, repo: TaskRepository) -> None:
    """Inner caused_by blocks add to the outer cause; outside the blocks the default
    cause (the task's user) is back."""
    await repo.create_task(name="t", id="t", user_id="owner")
    with caused_by(user_id="admin"):
        with caused_by(request_id="r2", hook="audit"):
            await repo.update_task_priority("t", 5)
        await repo.update_task_priority("t", 6)
    await repo.update_task_priority("t", 7)
    causes = [e["cause"] for e in history(db, task_id="t")[1:]]
    assert causes == [
        {"user_id": "admin", "request_id": "r2", "hook": "audit"},
        {"user_id": "admin"},
        {"user_id": "owner"},
    ]


async def test_history_of_a_tree(db, repo: TaskRepository, creator: TaskCreator) -> None:
    """A tree's history holds every task's events, deleted tasks included, oldest first;
    the tree id may be given as text or UUID."""
    node = await creator.create_task_tree_from_array(
        [{"id": "r", "name": "r"}, {"id": "c", "name": "c", "parent_id": "r"}]
    )
    await repo.create_task(name="other tree", id="o")
    await repo.update_task_status("c", TaskStatus.FAILED, error="e")
    await repo.delete_task("c")
    tree_id = node.task.tree_id
    entries = history(db, tree_id=str(tree_id))
    assert [(e["type"], e["task_id"]) for e in entries] == [
        ("tree_created", "r"),
        ("created", "r"),
        ("created", "c"),
        ("failed", "c"),
        ("deleted", "c"),
    ]
    assert history(db, tree_id=UUID(str(tree_id))) == entries
    assert [e["version"] for e in entries] == [1, 2, 3, 4, 5]
    assert {e["tree_id"] for e in entries} == {str(tree_id)}
    assert history(db, tree_id=UUID(int=0)) == []


async def test_history_refusals(db, repo: TaskRepository) -> None:
    """history needs exactly one of task_id / tree_id, a real tree id, a known task."""
    await repo.create_task(name="t", id="t")
    tree_id = (await repo.get_task_by_id("t")).tree_id
    with pytest.raises(TaskValidationError, match="exactly one"):
        history(db)
    with pytest.raises(TaskValidationError, match="exactly one"):
        history(db, task_id="t", tree_id=tree_id)
    with pytest.raises(TaskValidationError, match="tree_id"):
        history(db, tree_id="not-a-uuid")
    with pytest.raises(TaskNotFoundError, match="'nobody'"):
        history(db, task_id="nobody")


async def test_history_records_copies(db, creator: TaskCreator, repo: TaskRepository) -> None:
    """Copying adds a 'copied' event to the original, with the cause of the copy."""
    await repo.create_task(name="t", id="t", user_id="owner")
    with caused_by(user_id="admin", request_id="copy-1"):
        node = await creator.create_task_copy("t")
    last = history(db, task_id="t")[-1]
    assert last["type"] == "copied"
    assert last["changes"]["has_copy"] == {"old": False, "new": True}
    assert last["cause"] == {"user_id": "admin", "request_id": "copy-1"}
    copy_created = history(db, task_id=node.task.id)[0]
    assert copy_created["cause"] == {"user_id": "admin", "request_id": "copy-1"}
    assert copy_created["changes"]["original_task_id"] == {"old": None, "new": "t"}


# ------------------------------------------------------------------ time travel


Step = Callable[[], Awaitable[Any]]


async def record_steps(db, repo: TaskRepository, steps: list[Step]) -> list[tuple[int, dict]]:
    """Run each step and note the log position and every row right after it."""
    seen = []
    for step in steps:
        await step()
        seen.append((log_position(db), await all_rows(repo)))
    return seen


async def test_tree_at_reproduces_every_step(
    db, repo: TaskRepository, creator: TaskCreator
) -> None:
    """At each recorded position, tree_at rebuilds exactly the rows seen then (status,
    progress, name and every other column), while another tree is written in between."""
    await repo.create_task(name="root", id="r")
    await repo.create_task(name="noise", id="n")
    steps: list[Step] = [
        lambda: repo.create_task(name="child", id="c", parent_id="r"),
        lambda: repo.create_task(name="other", id="d", parent_id="r", dependencies=["c"]),
        lambda: repo.update_task_name("n", "noise 2"),
        lambda: repo.update_task_status("c", TaskStatus.IN_PROGRESS, progress=0.2),
        lambda: repo.update_task_status("c", TaskStatus.IN_PROGRESS, progress=0.7),
        lambda: repo.update_task_name("c", "renamed"),
        lambda: repo.update_task_status("c", TaskStatus.COMPLETED, result=[1, 2]),
        lambda: repo.update_task_dependencies("d", []),
        lambda: creator.create_task_copy("c"),
        lambda: repo.update_task_status("d", TaskStatus.FAILED, error="late"),
        lambda: repo.delete_task("d"),
        lambda: repo.update_task_status("c", TaskStatus.PENDING),
    ]
    seen = await record_steps(db, repo, steps)
    tree_id = str((await repo.get_task_by_id("r")).tree_id)
    for position, rows in seen:
        assert node_rows(tree_at(db, "r", position=position)) == tree_rows(rows, tree_id)
    statuses = [tree_at(db, "r", position=p).calculate_status() for p, _ in seen]
    assert statuses[0] == TaskStatus.PENDING
    assert statuses[3] == TaskStatus.IN_PROGRESS
    assert tree_at(db, "c", position=seen[4][0]).task.progress == 0.7
    assert tree_at(db, "c", position=seen[5][0]).task.name == "renamed"
    assert node_rows(tree_at(db, "r")) == tree_rows(await all_rows(repo), tree_id)


async def test_tree_at_a_subtree(db, repo: TaskRepository) -> None:
    """tree_at of an inner task gives its subtree only."""
    await repo.create_task(name="r", id="r")
    await repo.create_task(name="a", id="a", parent_id="r")
    await repo.create_task(name="a1", id="a1", parent_id="a")
    await repo.create_task(name="b", id="b", parent_id="r")
    node = tree_at(db, "a", position=log_position(db))
    assert [t.id for t in node.tasks()] == ["a", "a1"]
    assert [c.task.id for c in tree_at(db, "r").children] == ["a", "b"]


async def test_tree_at_status_comes_from_the_children(db, repo: TaskRepository) -> None:
    """A replayed tree's status is computed from its children, as a live tree's is: the
    root's own failure does not show while its only child completed."""
    await repo.create_task(name="r", id="r")
    await repo.create_task(name="c", id="c", parent_id="r")
    await repo.update_task_status("c", TaskStatus.IN_PROGRESS, progress=0.5)
    running = log_position(db)
    await repo.update_task_status("c", TaskStatus.COMPLETED)
    await repo.update_task_status("r", TaskStatus.FAILED, error="late")
    assert tree_at(db, "r", position=running).calculate_status() == TaskStatus.IN_PROGRESS
    assert tree_at(db, "r").calculate_status() == TaskStatus.COMPLETED


async def test_tree_at_a_datetime(db, repo: TaskRepository) -> None:
    """tree_at(at=...) shows the tree as it was at that moment."""
    await repo.create_task(name="first", id="t")
    first = datetime.now(UTC)
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.5)
    second = datetime.now(UTC)
    await repo.update_task_name("t", "third")
    assert tree_at(db, "t", at=first).task.to_dict()["status"] == TaskStatus.PENDING
    at_second = tree_at(db, "t", at=second).task
    assert (at_second.name, at_second.status, at_second.progress) == ("first", "in_progress", 0.5)
    assert tree_at(db, "t", at=datetime.now(UTC)).task.name == "third"


async def test_tree_at_before_creation(db, repo: TaskRepository) -> None:
    """Before the task's first event tree_at raises TaskNotFoundError, by position and by
    time; position and at together are refused."""
    before = datetime.now(UTC)
    await repo.create_task(name="earlier tree", id="e")
    await repo.create_task(name="t", id="t")
    # Positions: 0 (empty log), 2 (only the earlier tree), 3 (t's tree, no task yet).
    positions = [{"position": p} for p in (0, log_position(db) - 2, log_position(db) - 1)]
    for kwargs in [*positions, {"at": before}]:
        with pytest.raises(TaskNotFoundError, match="'t'"):
            tree_at(db, "t", **kwargs)
    with pytest.raises(TaskNotFoundError):
        tree_at(db, "never", position=log_position(db))
    with pytest.raises(TaskValidationError):
        tree_at(db, "t", position=1, at=before)


async def test_tree_at_after_a_delete(db, repo: TaskRepository) -> None:
    """A deleted task is gone from tree_at after its deletion and there before it."""
    await repo.create_task(name="r", id="r")
    await repo.create_task(name="c", id="c", parent_id="r")
    before = log_position(db)
    await repo.delete_task("c")
    assert [t.id for t in tree_at(db, "r", position=before).tasks()] == ["r", "c"]
    assert tree_at(db, "r").children == [] and tree_at(db, "r").task.has_children is False
    with pytest.raises(TaskNotFoundError):
        tree_at(db, "c")


# ---------------------------------------------------------------------- rebuild


async def busy_database(repo: TaskRepository, creator: TaskCreator) -> None:
    """Trees touched by every kind of command: updates, statuses, deletes, copies and an
    id used again after its deletion."""
    await creator.create_task_tree_from_array(
        [
            {"id": "r", "name": "r", "user_id": "u", "inputs": {"k": [1, {"z": None}]}},
            {"id": "a", "name": "a", "parent_id": "r", "dependencies": ["r"]},
            {"id": "b", "name": "b", "parent_id": "r", "params": {"p": 1.5}},
            {"id": "b1", "name": "b1", "parent_id": "b"},
        ]
    )
    await repo.update_task_status("r", TaskStatus.IN_PROGRESS, progress=0.3)
    await repo.update_task_status("r", TaskStatus.COMPLETED, result={"ok": True})
    await repo.update_task_status("a", TaskStatus.FAILED, error="boom", error_type="E")
    await repo.update_task_priority("a", 0)
    await repo.update_task_schemas("b", {"method": "m"})
    await repo.update_task_inputs("b1", {"x": "y"})
    await repo.delete_task("b")
    await repo.create_task(name="b again", id="b", parent_id="a")
    await creator.create_task_copy("r", children=True)
    await repo.create_task(name="solo", id="solo")
    await repo.delete_task("solo")


async def test_rebuild_projections_gives_identical_rows(
    db, repo: TaskRepository, creator: TaskCreator
) -> None:
    """Rebuilding from the log restores every row exactly, even after the projection was
    damaged (so the rebuild really reads the log), and doing it twice changes nothing."""
    await busy_database(repo, creator)
    rows = await all_rows(repo)
    assert "solo" not in rows and rows["b"]["name"] == "b again"

    def damage() -> None:
        with db.connections.begin() as connection:
            connection.execute(text("UPDATE tasks SET name = 'damaged', progress = 0.5"))
            connection.execute(text("DELETE FROM tasks WHERE id = 'a'"))
            connection.execute(text("UPDATE tasks SET has_children = NOT has_children"))

    db.call(damage)
    assert await all_rows(repo) != rows
    assert rebuild_projections(db) == len(rows)
    assert await all_rows(repo) == rows
    assert rebuild_projections(db) == len(rows)
    assert await all_rows(repo) == rows
    # The rebuilt projection keeps working with new commands.
    await repo.update_task_name("a", "after rebuild")
    assert (await repo.get_task_by_id("a")).name == "after rebuild"


async def test_rebuild_of_an_empty_log(db, repo: TaskRepository) -> None:
    """An empty log rebuilds to no rows."""
    assert rebuild_projections(db) == 0
    assert await repo.list_tasks() == []


# -------------------------------------------------------------------- snapshots


#: Updates in the long stream: three snapshot intervals (the test sets a short one).
LONG = 30


async def test_long_streams_use_snapshots(db, repo: TaskRepository) -> None:
    """A tree with more events than the snapshot interval is snapshotted, still loads,
    keeps taking commands, and tree_at at old positions (before, between and after the
    snapshots) is right. The interval is shortened from its default (1000) so that the
    same path runs with a few dozen events instead of a thousand."""
    db.log.snapshot_interval = 10
    await repo.create_task(name="r", id="r")
    await repo.create_task(name="long", id="t", parent_id="r")
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    marks: dict[int, float] = {}
    for i in range(1, LONG + 1):
        await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=i / LONG)
        if i in (1, 8, 9, 15, 25):
            marks[log_position(db)] = i / LONG
    assert count_snapshots(db) >= 2
    for position, progress in marks.items():
        assert tree_at(db, "t", position=position).task.progress == progress
    # The live (cached) tree still takes commands after being snapshotted.
    await repo.create_task(name="late child", id="late", parent_id="t")
    node = await repo.build_task_tree("r")
    assert [t.id for t in node.tasks()] == ["r", "t", "late"]
    assert node_rows(node) == await all_rows(repo)
    assert node_rows(tree_at(db, "r")) == await all_rows(repo)
    # A fresh session loads the tree from the snapshot plus the events after it.
    other = create_session(db.url)
    try:
        other_repo = TaskRepository(other)
        assert (await other_repo.get_task_by_id("t")).progress == 1.0
        assert node_rows(await other_repo.build_task_tree("r")) == await all_rows(repo)
        await other_repo.update_task_status("t", TaskStatus.COMPLETED)
    finally:
        other.close()
    assert len(history(db, task_id="t")) == 1 + 1 + LONG + 1
    assert rebuild_projections(db) == 3


# ----------------------------------------------------------------- two sessions


async def test_second_session_sees_the_same_data(
    db, repo: TaskRepository, creator: TaskCreator, second_session: Database
) -> None:
    """Another session on the same file reads the same rows, trees and history."""
    await busy_database(repo, creator)
    other = TaskRepository(second_session)
    assert await all_rows(other) == await all_rows(repo)
    assert node_rows(await other.build_task_tree("r")) == node_rows(await repo.build_task_tree("r"))
    assert history(second_session, task_id="b1") == history(db, task_id="b1")
    assert log_position(second_session) == log_position(db)


async def test_two_sessions_write_the_same_tree(
    db, repo: TaskRepository, second_session: Database
) -> None:
    """Writes through one session, then the other, then back, on the same tree all
    succeed: each session's cached tree catches up with the other's events."""
    other = TaskRepository(second_session)
    await repo.create_task(name="root", id="r")
    await repo.build_task_tree("r")  # the first session caches the tree
    await other.create_task(name="from other", id="o", parent_id="r")
    await repo.create_task(name="from first", id="f", parent_id="o", dependencies=["o"])
    await other.update_task_name("f", "renamed by other")
    await repo.update_task_status("o", TaskStatus.IN_PROGRESS)
    await other.update_task_status("o", TaskStatus.IN_PROGRESS, progress=0.5)
    await repo.update_task_priority("f", 0)
    expected = ["r", "o", "f"]
    for session_repo in (repo, other):
        assert [t.id for t in await session_repo.get_all_tasks_in_tree("r")] == expected
        node = await session_repo.build_task_tree("r")
        assert node_rows(node) == await all_rows(repo)
        assert [t.id for t in await session_repo.find_dependent_tasks("o")] == ["f"]
    f = await other.get_task_by_id("f")
    assert (f.name, f.priority) == ("renamed by other", 0)
    assert (await repo.get_task_by_id("o")).progress == 0.5
    tree_id = (await repo.get_task_by_id("r")).tree_id
    versions = [e["version"] for e in history(db, tree_id=tree_id)]
    assert versions == list(range(1, len(versions) + 1)) and len(versions) == 8
    positions = [e["position"] for e in history(second_session, tree_id=tree_id)]
    assert positions == list(range(1, log_position(db) + 1))
    rows = await all_rows(repo)
    assert rebuild_projections(second_session) == len(rows)
    assert await all_rows(repo) == rows


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


@pytest.mark.parametrize("position", [2**70, -1, "3", True, 1.5])
async def test_tree_at_refuses_positions_no_database_holds(
    db, repo: TaskRepository, position
) -> None:
    await repo.create_task(name="p", id="p")
    with pytest.raises(TaskValidationError):
        tree_at(db, "p", position=position)


async def test_one_commit_changing_different_columns_of_a_few_tasks(
    db, repo: TaskRepository, creator: TaskCreator
) -> None:
    """A run's commit finishes one task and starts the next with new inputs (different
    columns of each, written in one statement): each row is then exactly what a rebuild
    from the log makes of it."""
    root = await creator.create_task_tree_from_array(
        [
            {"id": "first", "name": "first"},
            {"id": "next", "name": "next", "parent_id": "first", "inputs": {"k": 1}},
            {"id": "last", "name": "last", "parent_id": "first", "priority": 3},
        ]
    )
    tree_id = root.task.tree_id

    def commit(work: Any) -> None:
        tree = work.tree(tree_id)
        tree.set_status("first", TaskStatus.IN_PROGRESS, {})
        tree.set_status("first", TaskStatus.COMPLETED, {}, result={"out": [1, 2]})
        tree.update("next", {"inputs": {"k": 2, "first": {"out": [1, 2]}}}, {})
        tree.set_status("next", TaskStatus.IN_PROGRESS, {})
        tree.update("last", {"priority": 0}, {})

    db.call(db.log.run, commit)
    rows = await all_rows(repo)
    assert rows["first"]["result"] == {"out": [1, 2]} and rows["first"]["inputs"] == {}
    assert rows["next"]["inputs"] == {"k": 2, "first": {"out": [1, 2]}}
    assert (rows["next"]["status"], rows["last"]["priority"]) == (TaskStatus.IN_PROGRESS, 0)
    assert rebuild_projections(db) == 3
    assert await all_rows(repo) == rows
