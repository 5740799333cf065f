"""The change recorder on a real database: group commits, and actions only after them."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest

from aipartnerupflow import Database, TaskCreator, TaskValidationError, history
from aipartnerupflow.actors.recorder import Change, ChangeRecorder
from aipartnerupflow.events.domain.status import TaskStatus

CAUSE: dict[str, Any] = {"user_id": "tester"}


async def planted(db: Database) -> ChangeRecorder:
    tree = await TaskCreator(db).create_task_tree_from_array(
        [{"id": "a", "name": "x"}, {"id": "b", "name": "x", "parent_id": "a"}]
    )
    return ChangeRecorder(db, tree.task.tree_id, lambda applied: None)


async def test_changes_wait_for_flush_and_actions_for_their_commit(db: Database) -> None:
    recorder = await planted(db)
    committed: list[list[str]] = []
    recorder.on_commit = lambda applied: committed.append([c.task_id for c in applied])
    seen: list[list[str]] = []
    recorder.record(Change("a", "start", CAUSE, {"attempt": 1}))
    recorder.record(Change("b", "start", CAUSE, {"attempt": 1}))
    recorder.then(lambda: seen.append([e["type"] for e in history(db, task_id="b")]))
    assert not recorder.settled and history(db, task_id="a")[-1]["type"] == "created"
    recorder.flush()
    assert committed == [["a", "b"]] and seen == [["created", "started"]]
    assert recorder.settled


async def test_a_change_the_state_no_longer_allows_is_skipped_not_reported(
    db: Database,
) -> None:
    recorder = await planted(db)
    committed: list[list[Change]] = []
    recorder.on_commit = committed.append
    end = {"status": TaskStatus.COMPLETED, "result": {"n": 1}}
    recorder.record(Change("a", "finish", CAUSE, end))
    recorder.record(Change("a", "finish", CAUSE, {"status": TaskStatus.FAILED, "error": "x"}))
    recorder.record(Change("a", "progress", CAUSE, {"progress": 0.5}))
    recorder.flush()
    assert [c.values["status"] for c in committed[0]] == [TaskStatus.COMPLETED]
    assert [e["type"] for e in history(db, task_id="a")] == ["created", "completed"]


async def test_nothing_waiting_runs_when_the_commit_fails(db: Database) -> None:
    recorder = await planted(db)
    ran: list[str] = []
    recorder.record(Change("a", "start", CAUSE, {"attempt": 1}))
    recorder.record(Change("b", "inputs", CAUSE, {"inputs": {"when": object()}}))
    recorder.then(lambda: ran.append("action"))
    with pytest.raises(TaskValidationError):
        recorder.flush()
    assert ran == []
    assert [e["type"] for e in history(db, task_id="a")] == ["created"]


async def test_due_after_enough_pending_changes(db: Database) -> None:
    recorder = await planted(db)
    recorder.flush_every = 2
    recorder.record(Change("a", "progress", CAUSE, {"progress": 0.1}))
    assert not recorder.due
    recorder.record(Change("a", "progress", CAUSE, {"progress": 0.2}))
    assert recorder.due


async def test_send_hands_one_batch_out_and_actions_wait_for_its_arrival(db: Database) -> None:
    recorder = await planted(db)
    committed: list[list[str]] = []
    recorder.on_commit = lambda applied: committed.append([c.task_id for c in applied])
    delivered: list[Future[list[bool]]] = []
    arrived = threading.Event()

    def deliver(future: Future[list[bool]]) -> None:
        delivered.append(future)
        arrived.set()

    ran: list[str] = []
    recorder.record(Change("a", "start", CAUSE, {"attempt": 1}))
    recorder.then(lambda: ran.append("first"))
    recorder.send(deliver)
    recorder.record(Change("b", "start", CAUSE, {"attempt": 1}))
    recorder.then(lambda: ran.append("second"))
    recorder.send(deliver)  # the first batch is still out: the second waits
    assert arrived.wait(10)
    assert len(delivered) == 1 and ran == [] and not recorder.settled
    recorder.arrived(delivered[0])
    assert committed == [["a"]] and ran == ["first"]
    arrived.clear()
    recorder.send(deliver)
    assert arrived.wait(10)
    recorder.arrived(delivered[1])
    assert committed == [["a"], ["b"]] and ran == ["first", "second"]
    assert recorder.settled
    assert [e["type"] for e in history(db, task_id="b")] == ["created", "started"]


async def test_a_failed_batch_runs_nothing_that_waited_for_it(db: Database) -> None:
    recorder = await planted(db)
    ran: list[str] = []
    recorder.record(Change("b", "inputs", CAUSE, {"inputs": {"when": object()}}))
    recorder.then(lambda: ran.append("action"))
    done: Future[Future[list[bool]]] = Future()
    recorder.send(done.set_result)
    with pytest.raises(TaskValidationError):
        recorder.arrived(done.result(timeout=10))
    assert ran == [] and recorder.settled
