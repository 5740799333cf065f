"""Logs written by released versions stay readable: each golden log in ``tests/golden/``
is loaded as raw rows into a fresh database and read with the current code."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from aipartnerupflow import (
    Database,
    TaskNotFoundError,
    TaskRepository,
    history,
    log_position,
    rebuild_projections,
    tree_at,
)
from aipartnerupflow.events.store.recorder import events_table, snapshots_table

GOLDEN = sorted((Path(__file__).parents[1] / "golden").glob("v*.json"))


def _plain(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
    )


def _load(db: Database, golden: dict[str, Any]) -> None:
    events = [
        {
            "position": position,
            "tree_id": UUID(tree_id),
            "version": version,
            "task_id": task_id,
            "timestamp": datetime.fromisoformat(timestamp),
            "topic": topic,
            "state": base64.b64decode(state),
        }
        for position, tree_id, version, task_id, timestamp, topic, state in golden["events"]
    ]
    snapshots = [
        {"tree_id": UUID(tree_id), "version": version, "topic": topic, "state": base64.b64decode(s)}
        for tree_id, version, topic, s in golden["snapshots"]
    ]
    with db.engine.begin() as connection:
        connection.execute(events_table.insert(), events)
        if snapshots:
            connection.execute(snapshots_table.insert(), snapshots)


@pytest.fixture(params=GOLDEN, ids=[path.stem for path in GOLDEN])
def golden(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads(request.param.read_text())


def test_golden_logs_exist() -> None:
    assert GOLDEN, "no golden log in tests/golden"


async def test_a_golden_log_reads_as_it_did_when_written(
    db: Database, golden: dict[str, Any]
) -> None:
    _load(db, golden)
    expected = golden["expected"]
    assert log_position(db) == expected["log_position"]
    assert rebuild_projections(db) == len(expected["tasks"])
    repo = TaskRepository(db)
    for task in expected["tasks"]:
        assert (await repo.get_task_by_id(task["id"])).to_dict() == task
    for tree in expected["trees"]:
        assert _plain(history(db, tree_id=tree["tree_id"])) == tree["history"]
        for position, node in tree["tree_at"].items():
            if node is None:  # the tree's first event comes before its root task's
                with pytest.raises(TaskNotFoundError):
                    tree_at(db, tree["root_id"], position=int(position))
                continue
            assert _plain(tree_at(db, tree["root_id"], position=int(position)).to_dict()) == node
