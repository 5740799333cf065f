"""The bulk writer stores values exactly as SQLAlchemy and the driver would."""

from __future__ import annotations

import sqlite3
import warnings
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, select
from sqlalchemy.dialects import sqlite

from aipartnerupflow.events.store.bulk import bulk_insert, sqlite_utc_text
from aipartnerupflow.events.store.codec import clone_json
from aipartnerupflow.events.store.sqltypes import UTCDateTime

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
