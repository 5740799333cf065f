"""Bulk writes and prebuilt reads for the hot paths (the event log, the task projection,
the checks every commit of a running tree makes).

SQLAlchemy's executemany compiles parameters row by row; here each column's bind
processor (the same one SQLAlchemy would use, so values are stored identically) is
applied in one tight loop and the rows go straight to the driver.

On SQLite the rows of a batch go as one multi-row statement: the driver releases the
GIL at every statement step, and with the supervisor and the event loop busy on other
threads each re-acquisition waits a switch interval, so row-by-row steps would spend
more time queueing for the GIL than writing. On PostgreSQL (psycopg) an insert is one
binary COPY, which the server loads in about half the time of as many INSERTs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import chain, islice
from typing import Any

from sqlalchemy import JSON, Connection, LargeBinary, Table
from sqlalchemy.engine import Dialect

from aipartnerupflow.events.store.sqltypes import UTCDateTime

Processor = Callable[[Any], Any] | None
#: SQLite's limit on bound variables per statement is 32766 (since 3.32).
_SQLITE_MAX_VARIABLES = 32000
_NOTHING = object()
#: Fewer rows go as INSERTs: a COPY takes one more round trip to the server, which
#: costs more than it saves on a handful of rows (a chain's commits write two or three).
COPY_MIN_ROWS = 16


class BulkStatement:
    """One INSERT, UPDATE or DELETE of fixed columns, executed for many rows at once."""

    def __init__(
        self,
        processors: Sequence[Processor],
        row_sql: str,
        multi_sql: Callable[[int], str] | None,
        copy: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        self.width = len(processors)
        # Most columns (strings, numbers) need no conversion: touch only those that do.
        self.conversions = tuple((i, proc) for i, proc in enumerate(processors) if proc)
        self.row_sql = row_sql
        self.multi_sql = cache(multi_sql) if multi_sql is not None else None
        #: ``COPY ... FROM STDIN`` and the type each column is sent as, where it is used.
        self.copy = copy
        #: Rows converted at a time: on SQLite, one statement's (as many as its
        #: variables allow); elsewhere, one executemany's or a part of the COPY.
        self.chunk_rows = max(1, _SQLITE_MAX_VARIABLES // self.width)

    def execute(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> None:
        """Run the statement for every row; each row lists values in column order.

        Rows are converted and sent a chunk at a time: a batch of 100k rows never holds
        all its converted values at once.
        """
        chunks = self._converted_chunks(rows)
        first = next(chunks, None)
        if first is None:
            return
        batches = chain([first], chunks)
        # The raw cursor of the connection's transaction: no per-row statement compiling.
        cursor = connection.connection.cursor()
        try:
            if self.copy is not None and len(first) >= COPY_MIN_ROWS:
                sql, types = self.copy
                with cursor.copy(sql) as copy:
                    copy.set_types(types)
                    for bound in batches:
                        for row in bound:
                            copy.write_row(row)
            elif self.multi_sql is None:
                for bound in batches:
                    cursor.executemany(self.row_sql, bound)
            else:
                for bound in batches:
                    cursor.execute(self.multi_sql(len(bound)), [v for row in bound for v in row])
        finally:
            cursor.close()

    def _converted_chunks(self, rows: Iterable[Sequence[Any]]) -> Iterator[list[list[Any]]]:
        remaining = iter(rows)
        while chunk := list(islice(remaining, self.chunk_rows)):
            yield self._converted(chunk)

    def _converted(self, rows: list[Sequence[Any]]) -> list[list[Any]]:
        bound = [list(row) for row in rows]
        for index, convert in self.conversions:
            # Column by column, converting a value once for a run of rows that share it
            # (one tree id for a whole batch, one time for a task's several columns).
            last_in: Any = _NOTHING
            last_out: Any = None
            for values in bound:
                value = values[index]
                if value is not last_in:
                    last_in, last_out = value, convert(value)
                values[index] = last_out
        return bound


def _is_sqlite(dialect: Dialect) -> bool:
    return dialect.name == "sqlite"


def _marker(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[Processor]:
    return [_processor(table.c[column].type, dialect) for column in columns]


def _processor(column_type: Any, dialect: Dialect) -> Processor:
    if isinstance(column_type, UTCDateTime) and _is_sqlite(dialect):
        return sqlite_utc_text
    proc = column_type.bind_processor(dialect)
    if proc and isinstance(column_type, LargeBinary):
        return _bytes_as_they_are(proc)
    return _with_empty_values(proc) if proc and isinstance(column_type, JSON) else proc


def _bytes_as_they_are(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Encoded events are bytes already, which every driver stores as they are."""

    def convert(value: Any) -> Any:
        return value if type(value) is bytes else proc(value)

    return convert


def sqlite_utc_text(value: datetime | None) -> str | None:
    """A time as SQLite stores it: in one step what ``UTCDateTime`` and then the sqlite3
    driver's datetime adapter do in two (a third of the cost, for several per row)."""
    if value is None:
        return None
    return _utc_text(value)


# An event's time is written several times in one save (the event, the task's
# updated_at, started_at or completed_at): each is formatted once.
@lru_cache(maxsize=4096)
def _utc_text(value: datetime) -> str:
    if value.tzinfo is UTC:  # the usual case: the same text, less its "+00:00"
        return value.isoformat(" ")[:-6]
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _with_empty_values(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Most JSON values written are empty ({}, [], None): serialise those once."""
    empty_dict, empty_list, nothing = proc({}), proc([]), proc(None)

    def convert(value: Any) -> Any:
        if value is None:
            return nothing
        if not value and type(value) is dict:
            return empty_dict
        if not value and type(value) is list:
            return empty_list
        return proc(value)

    return convert


def _tuples(width: int, count: int) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return ", ".join([one] * count)


@cache
def bulk_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> BulkStatement:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    head = f"INSERT INTO {table.name} ({names}) VALUES "
    mark = _marker(dialect)
    types = _copy_types(table, columns, dialect)
    return BulkStatement(
        _processors(table, columns, dialect),
        head + "(" + ", ".join(mark for _ in columns) + ")",
        (lambda n: head + _tuples(len(columns), n)) if _is_sqlite(dialect) else None,
        None
        if types is None
        else (f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)", types),
    )


#: What a binary COPY sends for each PostgreSQL column type: the type's own binary form,
#: or, for json, its text (which is json's binary form too).
_COPY_TYPES = {
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "BYTEA": "bytea",
    "FLOAT": "float8",
    "INTEGER": "int4",
    "JSON": "text",
    "TEXT": "text",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "UUID": "uuid",
    "VARCHAR": "text",
}


def _copy_types(table: Table, columns: Sequence[str], dialect: Dialect) -> list[str] | None:
    """The types a binary COPY sends ``columns`` as; None where COPY is not used (other
    databases and drivers, or a column type not listed)."""
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    types = []
    for column in columns:
        declared = table.c[column].type.compile(dialect=dialect).split("(")[0]
        if declared not in _COPY_TYPES:
            return None
        types.append(_COPY_TYPES[declared])
    return types


@cache
def bulk_update(
    table: Table, columns: tuple[str, ...], key: str, dialect: Dialect
) -> BulkStatement:
    """UPDATE ``columns`` by ``key``; each row lists the columns' values, then the key."""
    quote = dialect.identifier_preparer.quote
    mark = _marker(dialect)
    assignments = ", ".join(f"{quote(c)} = {mark}" for c in columns)
    row_sql = f"UPDATE {table.name} SET {assignments} WHERE {quote(key)} = {mark}"
    names = [f"v{i}" for i in range(len(columns))]
    from_values = ", ".join(f"{quote(c)} = v.{n}" for c, n in zip(columns, names, strict=True))

    def multi_sql(count: int) -> str:
        return (
            f"WITH v({', '.join(names)}, k) AS (VALUES {_tuples(len(columns) + 1, count)}) "
            f"UPDATE {table.name} SET {from_values} FROM v WHERE {table.name}.{quote(key)} = v.k"
        )

    return BulkStatement(
        _processors(table, (*columns, key), dialect),
        row_sql,
        multi_sql if _is_sqlite(dialect) else None,
    )


@cache
def bulk_delete(table: Table, key: str, dialect: Dialect) -> BulkStatement:
    quote = dialect.identifier_preparer.quote
    head = f"DELETE FROM {table.name} WHERE {quote(key)} "
    return BulkStatement(
        _processors(table, (key,), dialect),
        head + f"= {_marker(dialect)}",
        (lambda n: head + "IN (" + ", ".join("?" * n) + ")") if _is_sqlite(dialect) else None,
    )


class Read:
    """A SELECT of fixed shape run on the driver's cursor, for reads every commit makes:
    SQLAlchemy's statement machinery costs several times what such a read costs.

    Parameters are converted by their columns' bind processors (so they match the stored
    form); rows come back as the driver returns them, which suits integers, strings and
    bytes.
    """

    def __init__(self, sql: str, processors: Sequence[Processor]) -> None:
        self.sql = sql
        self.processors = tuple(processors)

    def rows(self, connection: Connection, *params: Any) -> list[Any]:
        values = [
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self.processors, params, strict=True)
        ]
        cursor = connection.connection.cursor()
        try:
            cursor.execute(self.sql, values)
            return list(cursor.fetchall())
        finally:
            cursor.close()


@cache
def prebuilt_read(
    table: Table,
    columns: tuple[str, ...],
    where: tuple[tuple[str, str], ...],
    dialect: Dialect,
    *,
    order_by: str | None = None,
    desc: bool = False,
    limit: bool = False,
    for_update: bool = False,
) -> Read:
    """``SELECT columns FROM table WHERE column op ? AND ...``; ``where`` lists (column,
    operator) pairs, whose values ``Read.rows`` takes in that order, then the limit."""
    quote = dialect.identifier_preparer.quote
    mark = _marker(dialect)
    sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {table.name}"
    if where:
        sql += " WHERE " + " AND ".join(f"{quote(c)} {op} {mark}" for c, op in where)
    if order_by is not None:
        sql += f" ORDER BY {quote(order_by)}" + (" DESC" if desc else "")
    if limit:
        sql += f" LIMIT {mark}"
    if for_update:
        sql += " FOR UPDATE"
    processors = [_processor(table.c[c].type, dialect) for c, _ in where]
    return Read(sql, [*processors, *([None] if limit else [])])
