"""Record before acting: an executor is entered only once its start is in the log, and
nobody hears of a change (stream event, cancel answer, run summary) before it is there.

Every check reads the log through the public ``history``/``tree_at`` API, from inside the
code that must not run early (an executor, a stream callback), so a premature start or
report fails the check itself, whatever the timing.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

import pytest

from aipartnerupflow import (
    BaseTask,
    Database,
    TaskCreator,
    TaskManager,
    TaskStatus,
    get_registry,
    history,
    tree_at,
)


class Witness(BaseTask):
    """Looks in the log for its own start before doing anything; fails ``fail`` times."""

    id = "witness"
    name = "witness"
    description = "checks that the log holds its start"
    db: ClassVar[Database | None] = None
    root: ClassVar[str] = ""
    seen: ClassVar[dict[str, list[tuple[str, int, int]]]] = {}
    entries: ClassVar[dict[str, int]] = {}
    gate: ClassVar[threading.Event] = threading.Event()
    gate_open: ClassVar[dict[str, bool]] = {}

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        task_id = inputs["me"]
        assert Witness.db is not None
        Witness.gate_open[task_id] = Witness.gate.is_set()
        entry = Witness.entries[task_id] = Witness.entries.get(task_id, 0) + 1
        started = [e for e in history(Witness.db, task_id=task_id) if e["type"] == "started"]
        node = tree_at(Witness.db, Witness.root)
        status = next(n.task.status for n in _walk(node) if n.task.id == task_id)
        Witness.seen.setdefault(task_id, []).append((status, len(started), entry))
        if entry <= inputs.get("fail", 0):
            raise ConnectionError("not yet")
        await asyncio.sleep(inputs.get("sleep", 0))
        if inputs.get("close_gate"):
            # Hold the database thread: what the supervisor commits next waits behind it.
            asyncio.get_running_loop().create_task(Witness.db.run(Witness.gate.wait))
        return {"entry": entry}


def _walk(node: Any) -> Any:
    yield node
    for child in node.children:
        yield from _walk(child)


@pytest.fixture(autouse=True)
def witness(db: Database):
    get_registry().register_executor(Witness)
    Witness.db, Witness.seen, Witness.entries, Witness.gate_open = db, {}, {}, {}
    Witness.gate = threading.Event()
    yield
    Witness.gate.set()
    get_registry().unregister_executor(Witness.id)
    Witness.db = None


def spec(
    task_id: str, parent: str | None = None, *, after_parent: bool = False, **inputs: Any
) -> dict[str, Any]:
    task: dict[str, Any] = {"id": task_id, "name": "witness", "inputs": {"me": task_id, **inputs}}
    if parent:
        task["parent_id"] = parent
    if after_parent:
        task["dependencies"] = [parent]
    return task


async def test_every_executor_finds_its_start_committed(db: Database) -> None:
    tasks = [spec("root")]
    tasks += [spec(f"fan{i}", "root") for i in range(40)]
    tasks += [spec("chain0", "root", after_parent=True)]
    tasks += [{**spec(f"chain{i}", "root"), "dependencies": [f"chain{i - 1}"]} for i in (1, 2, 3)]
    Witness.root = "root"
    tree = await TaskCreator(db).create_task_tree_from_array(tasks)
    summary = await TaskManager(db, max_concurrency=8).run_tree(tree.task.id)
    assert summary["status"] == TaskStatus.COMPLETED
    assert set(Witness.seen) == {t["id"] for t in tasks}
    for task_id, entries in Witness.seen.items():
        assert entries == [(TaskStatus.IN_PROGRESS, 1, 1)], task_id


async def test_an_executor_waits_for_a_slow_commit_of_its_start(db: Database) -> None:
    """The first task holds the database thread as it ends, so the commit of the second
    task's start waits; the second executor must not be entered before that commit."""
    Witness.root = "first"
    tree = await TaskCreator(db).create_task_tree_from_array(
        [spec("first", close_gate=True), spec("second", "first", after_parent=True)]
    )
    opener = threading.Timer(0.3, Witness.gate.set)
    opener.start()
    try:
        summary = await TaskManager(db).run_tree(tree.task.id)
    finally:
        opener.cancel()
        Witness.gate.set()
    assert summary["status"] == TaskStatus.COMPLETED
    assert Witness.gate_open == {"first": False, "second": True}
    assert Witness.seen["second"] == [(TaskStatus.IN_PROGRESS, 1, 1)]


async def test_a_retry_enters_the_executor_after_its_new_attempt_is_committed(
    db: Database,
) -> None:
    task = spec("flaky", fail=2)
    task["params"] = {"max_retries": 2, "retry_delay": 0.001}
    Witness.root = "flaky"
    tree = await TaskCreator(db).create_task_tree_from_array([task])
    await TaskManager(db).run_tree(tree.task.id)
    # Entry n sees n recorded starts: attempt n was durable before it began.
    assert Witness.seen["flaky"] == [(TaskStatus.IN_PROGRESS, n, n) for n in (1, 2, 3)]
    assert (await TaskManager(db).task_repository.get_task_by_id("flaky")).attempt == 3


async def test_stream_events_follow_their_commit(db: Database) -> None:
    Witness.root = "root"
    tree = await TaskCreator(db).create_task_tree_from_array(
        [spec("root"), spec("a", "root"), spec("b", "root", fail=1)]
    )
    manager = TaskManager(db)
    kinds = {"task_start": "started", "task_completed": "completed", "task_failed": "failed"}
    checked: list[tuple[str, str]] = []

    def check(event: dict[str, Any]) -> None:
        if event["type"] in kinds:
            types = [e["type"] for e in history(db, task_id=event["task_id"])]
            assert kinds[event["type"]] in types, (event, types)
            checked.append((event["type"], event["task_id"]))
        elif event["type"] == "final":
            node = tree_at(db, "root")
            assert all(TaskStatus.is_terminal(n.task.status) for n in _walk(node))
            checked.append(("final", event["task_id"]))

    manager.streaming_callbacks.add_callback(check)
    await manager.distribute_task_tree_with_streaming(tree)
    assert ("task_failed", "b") in checked and ("task_completed", "a") in checked
    assert checked[-1] == ("final", "root")


async def test_a_cancel_answer_follows_its_commit(db: Database) -> None:
    Witness.root = "root"
    tree = await TaskCreator(db).create_task_tree_from_array(
        [spec("root", sleep=30), spec("kid", "root", sleep=30, after_parent=True)]
    )
    manager = TaskManager(db)
    run = asyncio.create_task(manager.run_tree(tree.task.id))
    while "root" not in Witness.seen:
        await asyncio.sleep(0.01)
    answer = await manager.cancel_task("root", "stop")
    assert answer["status"] == "cancelled" and answer["cancelled_task_ids"] == ["root", "kid"]
    for task_id in answer["cancelled_task_ids"]:
        assert history(db, task_id=task_id)[-1]["type"] == "cancelled"
    assert (await run)["status"] == TaskStatus.CANCELLED
