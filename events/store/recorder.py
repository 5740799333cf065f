"""eventsourcing recorders on SQLAlchemy Core.

They write through the connection of the unit of work in progress, so the events, the
snapshots and the projection rows of one command commit (or roll back) together.
Positions in the log are assigned here, contiguously, while the writer holds the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    Notification,
    StoredEvent,
)
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy import exc as sa_exc

from aipartnerupflow.events.store.bulk import Read, bulk_insert, prebuilt_read
from aipartnerupflow.events.store.sqltypes import UTCDateTime

event_metadata = MetaData()

events_table = Table(
    "event_log",
    event_metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("tree_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("task_id", String(255)),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Index("ix_event_log_stream", "tree_id", "version", unique=True),
    Index("ix_event_log_task", "task_id"),
)


_LAST_POSITION = f"SELECT max(position) FROM {events_table.name}"
#: Held by a PostgreSQL writer from its log insert to its commit (the key is arbitrary,
#: fixed: "apflow" in ASCII, so it cannot collide with the application's own keys by chance).
_APPEND_TURN = "SELECT pg_advisory_xact_lock(107135382613879)"


def _last_position(connection: Connection) -> int | None:
    position: int | None = Read(_LAST_POSITION, ()).rows(connection)[0][0]
    return position


def _take_turn(connection: Connection) -> int | None:
    """The last position of the log, read once this writer's turn to append has come.

    PostgreSQL: writers take turns from here to their commit, so positions are
    contiguous and commit in order (a reader that saw position n will never see a
    smaller one appear). A transaction-scoped advisory lock does it without locking the
    table: writers do everything else (commands, projections, snapshots) concurrently,
    since the log's own insert is the last write of a save. Both statements go in one
    round trip; each reads its own snapshot, so the second sees every earlier turn.
    SQLite needs no lock: a write transaction already excludes other writers.
    """
    if connection.dialect.name != "postgresql":
        return _last_position(connection)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"{_APPEND_TURN}; {_LAST_POSITION}")
        cursor.nextset()
        row = cursor.fetchone()
    finally:
        cursor.close()
    assert row is not None
    position: int | None = row[0]
    return position


_EVENT_COLUMNS = ("position", "tree_id", "version", "task_id", "timestamp", "topic", "state")

snapshots_table = Table(
    "event_snapshots",
    event_metadata,
    Column("tree_id", Uuid, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("state", LargeBinary, nullable=False),
)


def _driver_integrity_error(connection: Connection) -> type[Exception]:
    # The raw cursor raises the driver's own error, not SQLAlchemy's wrapper.
    dbapi = connection.dialect.dbapi
    return dbapi.IntegrityError if dbapi is not None else sa_exc.IntegrityError


#: Set in a connection's ``info`` while its transaction begins, when that transaction
#: only reads (the engine's ``begin`` listener then takes no write lock).
READ_ONLY = "aipartnerupflow.read_only"


class Connections:
    """The connection of the unit of work running on this thread, or a short-lived one.

    Threads that call ``hold()`` (the database worker, the reader) keep a connection open
    across their units of work: taking a connection from the pool and resetting it on
    return costs more than a small commit.

    ``begin()`` runs a transaction that may write; on SQLite it takes the write lock up
    front. ``read()`` runs one that only reads and takes no lock, so on SQLite it neither
    waits for another process's write nor holds one up. Either joins the transaction in
    progress on the same thread, except that a write cannot join a read.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        # Each holding thread's connection (None until its first unit of work); a thread
        # only ever touches its own entry.
        self._held: dict[threading.Thread, Connection | None] = {}

    def hold(self) -> None:
        """Keep a connection open for the calling thread's units of work."""
        self._held.setdefault(threading.current_thread(), None)

    def release(self) -> None:
        """Close the calling thread's held connection (it opens a new one on next use)."""
        thread = threading.current_thread()
        held = self._held.get(thread)
        if held is not None:
            self._held[thread] = None
            held.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Join the transaction in progress on this thread, or run a new one that may write."""
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            if self._local.read_only:
                raise RuntimeError("a write cannot join a transaction begun to read only")
            yield current
            return
        with self._transaction(read_only=False) as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Join the transaction in progress on this thread, or run a new one that reads
        the last committed state and takes no write lock."""
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            yield current
            return
        with self._transaction(read_only=True) as connection:
            yield connection

    @contextmanager
    def _transaction(self, *, read_only: bool) -> Iterator[Connection]:
        thread = threading.current_thread()
        if thread not in self._held:
            with self.engine.connect() as connection, self._begun(connection, read_only) as own:
                yield own
            return
        held = self._held[thread]
        if held is None or held.invalidated:
            held = self._held[thread] = self.engine.connect()
        try:
            with self._begun(held, read_only) as transaction:
                yield transaction
        except BaseException:
            # A failed unit of work may have left the connection broken: start afresh.
            self.release()
            raise

    @contextmanager
    def _begun(self, connection: Connection, read_only: bool) -> Iterator[Connection]:
        """``connection`` in a transaction, joined by this thread's later calls."""
        if read_only:
            connection.info[READ_ONLY] = True
        try:
            transaction = connection.begin()
        finally:
            connection.info.pop(READ_ONLY, None)
        with transaction:
            self._local.connection, self._local.read_only = connection, read_only
            try:
                yield connection
            finally:
                self._local.connection = None


def _stored_events(originator_id: UUID | str, rows: Sequence[Any]) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic, state=state
        )
        for version, topic, state in rows
    ]


class _StreamRecorder(AggregateRecorder):
    def __init__(self, connections: Connections, table: Table) -> None:
        self.connections = connections
        self.table = table

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        # Every load of a cached tree reads its stream for newer events: prebuilt, per shape.
        where = (("tree_id", "="), *((("version", ">"),) if gt is not None else ()))
        where += (("version", "<="),) if lte is not None else ()
        params = [v for v in (originator_id, gt, lte, limit) if v is not None]
        with self.connections.read() as connection:
            read = prebuilt_read(
                self.table,
                ("version", "topic", "state"),
                where,
                connection.dialect,
                order_by="version",
                desc=desc,
                limit=limit is not None,
            )
            return _stored_events(originator_id, read.rows(connection, *params))


class SnapshotRecorder(_StreamRecorder):
    """Snapshots of long trees, so loading one does not replay its whole stream."""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections, snapshots_table)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        rows = [
            {
                "tree_id": e.originator_id,
                "version": e.originator_version,
                "topic": e.topic,
                "state": e.state,
            }
            for e in stored_events
        ]
        with self.connections.begin() as connection:
            connection.execute(self.table.insert(), rows)


class EventRecorder(_StreamRecorder, ApplicationRecorder):
    """The durable, totally ordered log of task events."""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections, events_table)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[int]:
        rows = [
            (
                e.originator_id,
                e.originator_version,
                getattr(e, "task_id", None),
                getattr(e, "timestamp", None),
                e.topic,
                e.state,
            )
            for e in stored_events
        ]
        return self.insert_rows(rows)

    def insert_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        """Append rows (tree id, version, task id, time, topic, state) at the next
        positions; returns the positions."""
        if not rows:
            return []
        with self.connections.begin() as connection:
            first = (_take_turn(connection) or 0) + 1
            positions = range(first, first + len(rows))
            insert = bulk_insert(self.table, _EVENT_COLUMNS, connection.dialect)
            try:
                insert.execute(
                    connection, ((p, *row) for p, row in zip(positions, rows, strict=True))
                )
            except (sa_exc.IntegrityError, _driver_integrity_error(connection)) as exc:
                # A version (or position) taken by another writer: optimistic concurrency.
                raise IntegrityError(str(getattr(exc, "orig", exc))) from exc
        return list(positions)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        c = self.table.c
        query = select(c.position, c.tree_id, c.version, c.topic, c.state)
        if start is not None:
            query = query.where(c.position >= start if inclusive_of_start else c.position > start)
        if stop is not None:
            query = query.where(c.position <= stop)
        if topics:
            query = query.where(c.topic.in_(topics))
        query = query.order_by(c.position).limit(limit)
        with self.connections.read() as connection:
            return [
                Notification(
                    id=r.position,
                    originator_id=r.tree_id,
                    originator_version=r.version,
                    topic=r.topic,
                    state=r.state,
                )
                for r in connection.execute(query)
            ]

    def max_notification_id(self) -> int | None:
        with self.connections.read() as connection:
            return _last_position(connection)

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Any:
        raise NotImplementedError("follow the log by polling select_notifications()")
