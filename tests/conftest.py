"""Shared fixtures: every test gets its own real database.

SQLite (a file per test) always; PostgreSQL too when ``AIPARTNERUPFLOW_TEST_POSTGRES_URL``
names a server (a fresh database per test is created on it and dropped afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from aipartnerupflow import Database, TaskCreator, TaskRepository, create_session
from aipartnerupflow.events.store.urls import resolve_url

# One Hypothesis profile for the suite. No deadline and no "too slow" check: examples
# touch a real database, whose speed depends on the machine, not on the code. CI tries
# more examples than a developer's run.
settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=25
)
settings.register_profile("ci", parent=settings.get_profile("dev"), max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

POSTGRES_URL = os.environ.get("AIPARTNERUPFLOW_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    assert POSTGRES_URL is not None
    name = f"flow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(resolve_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield resolve_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = create_session(path=tmp_path / "tasks.db")
    else:
        database = create_session(request.getfixturevalue("fresh_postgres_url"))
    yield database
    database.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database that other processes can open too."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
def repo(db: Database) -> TaskRepository:
    return TaskRepository(db)


@pytest.fixture
def creator(db: Database) -> TaskCreator:
    return TaskCreator(db)
