"""Helpers of the data API tests: log and projection rows, and refusals that must change
neither (this module holds no tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from aipartnerupflow import Database, TaskRepository, TaskTreeNode, create_session, log_position
from aipartnerupflow.events.store.recorder import events_table, snapshots_table


def count_rows(db: Database, table: Any = events_table) -> int:
    """Rows of a table of the log (``event_log`` unless told), read on the db thread."""

    def count() -> int:
        with db.connections.begin() as connection:
            return connection.execute(select(func.count()).select_from(table)).scalar_one()

    return db.call(count)


def count_snapshots(db: Database) -> int:
    return count_rows(db, snapshots_table)


async def all_rows(repo: TaskRepository) -> dict[str, dict[str, Any]]:
    """Every projected task as ``{id: to_dict()}``."""
    return {task.id: task.to_dict() for task in await repo.list_tasks(limit=10**6)}


def node_rows(node: TaskTreeNode) -> dict[str, dict[str, Any]]:
    """Every task of a node's subtree as ``{id: to_dict()}``."""
    return {task.id: task.to_dict() for task in node.tasks()}


async def log_state(db: Database, repo: TaskRepository) -> tuple[int, int, dict[str, Any]]:
    """What a rejected command must leave untouched: the log and the projection."""
    return log_position(db), count_rows(db), await all_rows(repo)


@asynccontextmanager
async def unchanged(db: Database, repo: TaskRepository) -> AsyncIterator[None]:
    """Neither the log nor the projection changes while the block runs."""
    before = await log_state(db, repo)
    yield
    assert await log_state(db, repo) == before


@asynccontextmanager
async def refused(
    db: Database, repo: TaskRepository, error: type[Exception], *words: str
) -> AsyncIterator[pytest.ExceptionInfo[Exception]]:
    """The block raises ``error`` (a ValueError) naming every one of ``words``, and
    neither the log nor the projection changes."""
    async with unchanged(db, repo):
        with pytest.raises(error) as caught:
            yield caught
    assert isinstance(caught.value, ValueError), f"{caught.value!r} is not a ValueError"
    for word in words:
        assert word in str(caught.value), f"{word!r} not in {str(caught.value)!r}"


def status_in(db_path: Path, task_id: str) -> str | None:
    """A task's status in the SQLite file another process writes (None: not there yet)."""
    if not db_path.exists():
        return None
    db = create_session(path=db_path)
    try:
        task = asyncio.run(TaskRepository(db).get_task_by_id(task_id))
        return None if task is None else task.status
    finally:
        db.close()
