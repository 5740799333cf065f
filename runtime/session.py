"""Database sessions: one database holds the event log and the projections."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from ..events.recorder import Connections, event_metadata
from ..events.store import TaskLog
from ..projections.models import ProjectionBase
from ..projections.projector import project

T = TypeVar("T")

DATABASE_URL_ENV = "AIPARTNERUPFLOW_DATABASE_URL"


def default_database_path() -> Path:
    """``$XDG_DATA_HOME/aipartnerupflow/aipartnerupflow.db`` (``~/.local/share`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aipartnerupflow" / "aipartnerupflow.db"


def _sqlite_engine(url: str, engine_kwargs: dict[str, Any]) -> Engine:
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    if in_memory:
        # One shared connection, or every thread would see its own empty database.
        engine_kwargs.setdefault("poolclass", StaticPool)
    engine_kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
    engine = create_engine(url, **engine_kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and then
        # writes fails outright (not after a wait) when another process wrote meanwhile.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """A database session: the engine, the event log and a worker thread for its I/O.

    Every database call runs on the session's worker thread, so the asyncio loop of the
    application never blocks on I/O and SQLite sees a single writer per process.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url, engine_kwargs)
        else:
            self.engine = create_engine(url, **engine_kwargs)
        self.connections = Connections(self.engine)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="aipartnerupflow-db")
        self._worker_thread: threading.Thread | None = None
        self.log: TaskLog = self.call(self._open)

    def _open(self) -> TaskLog:
        self._worker_thread = threading.current_thread()
        with self.engine.begin() as connection:
            event_metadata.create_all(connection)
            ProjectionBase.metadata.create_all(connection)
        log = TaskLog(self.connections)
        log.listeners.append(project)
        return log

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the worker thread and wait for it (inline when already there)."""
        if threading.current_thread() is self._worker_thread:
            return fn(*args, **kwargs)
        return self._worker.submit(fn, *args, **kwargs).result()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the worker thread without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Finish queued work and release the connections."""
        self._worker.shutdown(wait=True)
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"


def _url_for(connection_string: str | None, path: str | os.PathLike[str] | None) -> str:
    if connection_string is not None and path is not None:
        raise ValueError("give either connection_string or path, not both")
    if connection_string is not None:
        return connection_string
    if path is not None:
        if str(path) == ":memory:":
            return "sqlite://"
        file = Path(path).expanduser().resolve()
        file.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{file}"
    if os.environ.get(DATABASE_URL_ENV):
        return os.environ[DATABASE_URL_ENV]
    file = default_database_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def create_session(
    connection_string: str | None = None,
    path: str | os.PathLike[str] | None = None,
    **engine_kwargs: Any,
) -> Database:
    """Open a database: a SQLAlchemy URL, an SQLite file (``":memory:"`` allowed), or by
    default ``$AIPARTNERUPFLOW_DATABASE_URL`` or an SQLite file in the user's data directory."""
    return Database(_url_for(connection_string, path), **engine_kwargs)


_default: Database | None = None
_default_lock = threading.Lock()


def get_default_session() -> Database:
    """The process-wide session on the default database, opened on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = create_session()
        return _default
