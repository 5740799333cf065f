"""The database that holds the event log: its engine, the log, and one worker thread.

Every call runs on the worker thread, so an application's asyncio loop never blocks on
database I/O and SQLite sees a single writer per process. Read models (the projections)
plug in from above: their tables are created with the log's, and their listeners run
inside every save's transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event, inspect
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from aipartnerupflow.errors import ConcurrencyError
from aipartnerupflow.events.store.leases import lease_metadata
from aipartnerupflow.events.store.log import RecordListener, TaskLog
from aipartnerupflow.events.store.recorder import READ_ONLY, Connections, event_metadata
from aipartnerupflow.events.store.urls import missing_driver, resolve_url

T = TypeVar("T")


#: How long a write waits for another process's write to end before it gives up.
_BUSY_SECONDS = 10


def _in_memory(url: URL) -> bool:
    """An in-memory SQLite database: one connection, which every thread shares."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_engine(url: URL, engine_kwargs: dict[str, Any]) -> Engine:
    in_memory = _in_memory(url)
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
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A transaction that may write takes the write lock up front: a deferred one that
        # reads and then writes fails outright (not after a wait) when another process
        # wrote meanwhile. One that only reads takes none: in WAL mode it reads the last
        # commit while another process writes. Straight to the driver: this runs before
        # every write, and SQLAlchemy's statement machinery costs more than the statement.
        read_only = connection.info.get(READ_ONLY, False)
        try:
            connection.connection.driver_connection.execute(
                "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE"
            )
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            raise ConcurrencyError(
                f"another writer held the database for more than {_BUSY_SECONDS} s; "
                "nothing was recorded, try again"
            ) from None

    return engine


class LogDatabase:
    """The engine, the event log and the worker thread that runs every database call.

    Reads that only query the database (``call_read``, ``run_read``) run on a thread of
    their own, on a connection of their own, so a long one never holds up the commits of
    running trees; an in-memory SQLite database has one connection, so there they run on
    the worker too. ``schemas`` are created alongside the log's tables; ``listeners`` run
    inside the transaction of every save (see ``TaskLog.listeners``).
    """

    def __init__(
        self,
        url: str,
        *,
        schemas: Sequence[MetaData] = (),
        listeners: Sequence[RecordListener] = (),
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        resolved = resolve_url(url)
        try:
            if resolved.get_backend_name() == "sqlite":
                self.engine = _sqlite_engine(resolved, engine_kwargs)
            else:
                self.engine = create_engine(resolved, **engine_kwargs)
        except ImportError as error:
            raise missing_driver(resolved, error) from error
        self.connections = Connections(self.engine)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="aipartnerupflow-db")
        self._worker_thread: threading.Thread | None = None
        self._reader = self._worker
        self._reader_thread: threading.Thread | None = None
        if not _in_memory(resolved):
            self._reader = ThreadPoolExecutor(
                1, thread_name_prefix="aipartnerupflow-read", initializer=self._reading
            )
        self.log: TaskLog = self.call(
            self._open, (event_metadata, lease_metadata, *schemas), listeners
        )

    def _open(self, schemas: Sequence[MetaData], listeners: Sequence[RecordListener]) -> TaskLog:
        self._worker_thread = threading.current_thread()
        self.connections.hold()
        self._create_tables(schemas)
        log = TaskLog(self.connections)
        log.listeners.extend(listeners)
        return log

    def create_tables(self, *schemas: MetaData) -> None:
        """Create the tables of ``schemas`` that are missing (on the worker thread)."""
        self.call(self._create_tables, schemas)

    def _create_tables(self, schemas: Sequence[MetaData]) -> None:
        # Looked for first without the write lock: opening a database whose tables exist
        # must neither wait for another process's write nor hold one up.
        with self.connections.read() as connection:
            existing = set(inspect(connection).get_table_names())
        if any(name not in existing for metadata in schemas for name in metadata.tables):
            with self.connections.begin() as connection:
                for metadata in schemas:
                    metadata.create_all(connection)

    def _reading(self) -> None:
        self._reader_thread = threading.current_thread()
        self.connections.hold()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the worker thread and wait for it (inline when already there)."""
        if threading.current_thread() is self._worker_thread:
            return fn(*args, **kwargs)
        return self._worker.submit(fn, *args, **kwargs).result()

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn`` on the worker thread without waiting; its future completes there."""
        return self._worker.submit(fn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the worker thread without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, partial(fn, *args, **kwargs))

    def call_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn``, which only reads, on the reader thread and wait for it; it sees
        every commit made before it began (inline on the worker or the reader thread)."""
        if threading.current_thread() in (self._worker_thread, self._reader_thread):
            return fn(*args, **kwargs)
        return self._reader.submit(fn, *args, **kwargs).result()

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call_read`` without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Finish queued work and release the connections."""
        for executor in dict.fromkeys((self._worker, self._reader)):  # the worker first
            with suppress(RuntimeError):  # closed before: it takes nothing more
                executor.submit(self.connections.release)
            executor.shutdown(wait=True)
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.url.render_as_string(hide_password=True)!r})"
