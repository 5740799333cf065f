"""The database worker's own connection: kept across units of work, renewed after one
fails, released on close."""

from __future__ import annotations

from pathlib import Path

import pytest

from aipartnerupflow import Database, TaskCreator, create_session, history
from aipartnerupflow.events.store.log import Work


async def test_a_failed_unit_of_work_leaves_the_worker_able_to_write(db: Database) -> None:
    def fails(work: Work) -> None:
        with db.connections.begin() as connection:
            connection.exec_driver_sql("SELECT 1")
        raise ValueError("the command fails")

    with pytest.raises(ValueError):
        db.call(db.log.run, fails)
    tree = await TaskCreator(db).create_task_tree_from_array([{"id": "a", "name": "x"}])
    assert tree.task.id == "a"
    assert [e["type"] for e in history(db, task_id="a")] == ["created"]


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    db = create_session(path=tmp_path / "tasks.db")
    db.close()
    db.close()
