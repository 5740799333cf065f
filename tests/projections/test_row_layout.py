"""Where the projection puts a tree's rows: in creation order, so a run that works
through its tasks in that order updates neighbouring rows in each commit."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from aipartnerupflow import TaskCreator, create_session


async def test_task_rows_are_stored_in_creation_order(tmp_path: Path) -> None:
    db = create_session(path=tmp_path / "tasks.db")
    try:
        spec = [{"id": "root", "name": "root"}]
        spec += [{"id": f"task-{i}", "name": "leaf", "parent_id": "root"} for i in range(64)]
        await TaskCreator(db).create_task_tree_from_array(spec)
    finally:
        db.close()
    with closing(sqlite3.connect(tmp_path / "tasks.db")) as connection:
        stored = [row[0] for row in connection.execute("SELECT id FROM tasks ORDER BY rowid")]
    assert stored == [task["id"] for task in spec]
