"""The bulk writer stores values exactly as SQLAlchemy and the driver would."""

from __future__ import annotations

import sqlite3
import warnings
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    delete,
    select,
)
from sqlalchemy.dialects import sqlite

from aipartnerupflow.events.store.bulk import COPY_MIN_ROWS, bulk_insert, sqlite_utc_text
from aipartnerupflow.events.store.codec import clone_json
from aipartnerupflow.events.store.sqltypes import UTCDateTime
from aipartnerupflow.events.store.urls import resolve_url

_zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=_zones
)


def _stored_by_the_driver(value: datetime | None) -> object:
    """What SQLite holds after UTCDateTime's processor and the driver's own adapter."""
    processed = UTCDateTime().bind_processor(sqlite.dialect())(value)
    connection = sqlite3.connect(":memory:")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the default adapter
            return connection.execute("SELECT ?", (processed,)).fetchone()[0]
    finally:
        connection.close()


@given(st.one_of(st.none(), _times))
def test_sqlite_times_are_stored_as_before(value: datetime | None) -> None:
    assert sqlite_utc_text(value) == _stored_by_the_driver(value)


@given(
    st.recursive(
        st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(),
        lambda v: st.lists(v) | st.dictionaries(st.text(), v),
    )
)
def test_clone_json_is_an_equal_unshared_copy(value: object) -> None:
    copy = clone_json(value)
    assert copy == value
    if isinstance(value, (dict, list)):
        assert copy is not value


@given(rows=st.integers(0, 40), chunk=st.integers(1, 9))
def test_rows_sent_in_chunks_are_all_stored_converted(rows: int, chunk: int) -> None:
    engine = create_engine("sqlite://")
    table = Table(
        "t",
        MetaData(),
        Column("n", Integer, primary_key=True),
        Column("at", UTCDateTime),
        Column("doc", JSON),
    )
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    # Runs of shared values cross the chunks' edges: each chunk converts its own.
    wanted = [(n, at + timedelta(seconds=n // 4), {"n": n // 3}) for n in range(rows)]
    try:
        with engine.begin() as connection:
            table.create(connection)
            insert = bulk_insert(table, ("n", "at", "doc"), connection.dialect)
            insert.chunk_rows = chunk
            insert.execute(connection, iter(wanted))
            stored = connection.execute(select(table).order_by(table.c.n)).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in stored] == wanted


# Text every database stores (validation refuses NULs and lone surrogates before a write).
_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text,
    lambda v: st.lists(v, max_size=3) | st.dictionaries(_text, v, max_size=3),
    max_leaves=6,
)
_every_type = st.tuples(
    st.none() | _text,
    st.none() | _text,
    st.integers(-(2**31), 2**31 - 1),
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
    st.none() | st.booleans(),
    _json,
    st.none() | _times,
    st.none() | st.uuids(),
    st.binary(max_size=8),
)


def _table_of_every_type(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("n", Integer, primary_key=True),
        Column("label", String(64)),
        Column("note", Text),
        Column("small", Integer, nullable=False),
        Column("big", BigInteger),
        Column("ratio", Float),
        Column("flag", Boolean),
        Column("doc", JSON),
        Column("at", UTCDateTime),
        Column("ref", Uuid),
        Column("data", LargeBinary, nullable=False),
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=15)
@given(rows=st.lists(_every_type, min_size=1, max_size=8))
def test_bulk_inserts_store_what_sqlalchemy_stores(db_url: str, rows: list[tuple]) -> None:
    """Whatever the statement (multi-row INSERTs on SQLite; on PostgreSQL, INSERTs for a
    few rows and a binary COPY for many), every column type is stored exactly as
    SQLAlchemy's own insert stores it."""
    engine = create_engine(resolve_url(db_url))
    metadata = MetaData()
    ours, theirs = (_table_of_every_type(name, metadata) for name in ("bulk_ours", "bulk_theirs"))
    names = tuple(column.name for column in ours.columns)
    few = [(n, *row) for n, row in enumerate(rows)]
    many = [(len(few) + n, *row) for n, row in enumerate(rows * (COPY_MIN_ROWS // len(rows) + 1))]
    try:
        with engine.begin() as connection:
            metadata.create_all(connection)
            for table in (ours, theirs):
                connection.execute(delete(table))
            insert = bulk_insert(ours, names, connection.dialect)
            assert (insert.copy is not None) == (connection.dialect.name == "postgresql")
            for batch in (few, many):
                insert.execute(connection, batch)
                rows_of = [dict(zip(names, row, strict=True)) for row in batch]
                connection.execute(theirs.insert(), rows_of)
            stored = [
                connection.execute(select(table).order_by(table.c.n)).all()
                for table in (ours, theirs)
            ]
    finally:
        engine.dispose()
    assert stored[0] == stored[1]
    assert len(stored[0]) == len(few) + len(many) > COPY_MIN_ROWS
