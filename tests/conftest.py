"""Shared fixtures: every test gets its own real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aipartnerupflow import Database, TaskCreator, TaskRepository, create_session


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = create_session(path=tmp_path / "tasks.db")
    yield database
    database.close()


@pytest.fixture
def repo(db: Database) -> TaskRepository:
    return TaskRepository(db)


@pytest.fixture
def creator(db: Database) -> TaskCreator:
    return TaskCreator(db)
