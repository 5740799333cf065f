"""The bulk writer stores values exactly as SQLAlchemy and the driver would."""

from __future__ import annotations

import sqlite3
import warnings
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from aipartnerupflow.events.store.bulk import sqlite_utc_text
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
