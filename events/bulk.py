"""Bulk writes for the hot paths (the event log and the task projection).

SQLAlchemy's executemany compiles parameters row by row; here each column's bind
processor (the same one SQLAlchemy would use, so values are stored identically) is
applied in one tight loop and the tuples go straight to the driver's ``executemany``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any] | None


class BulkStatement:
    """One INSERT or UPDATE of fixed columns, executed for many rows at once."""

    def __init__(self, sql: str, processors: Sequence[Processor]) -> None:
        self.sql = sql
        self.processors = tuple(processors)

    def execute(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Run the statement once per row; each row lists values in column order."""
        if not rows:
            return
        procs = self.processors
        bound = [
            tuple(
                value if proc is None else proc(value)
                for proc, value in zip(procs, row, strict=True)
            )
            for row in rows
        ]
        # The raw cursor of the connection's transaction: no per-row statement compiling.
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(self.sql, bound)
        finally:
            cursor.close()


def _marker(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[Processor]:
    return [table.c[column].type.bind_processor(dialect) for column in columns]


@cache
def bulk_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> BulkStatement:
    marks = ", ".join(_marker(dialect) for _ in columns)
    names = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
    return BulkStatement(sql, _processors(table, columns, dialect))


@cache
def bulk_update(
    table: Table, columns: tuple[str, ...], key: str, dialect: Dialect
) -> BulkStatement:
    """UPDATE ``columns`` WHERE ``key`` = ?; rows end with the key's value."""
    quote = dialect.identifier_preparer.quote
    mark = _marker(dialect)
    assignments = ", ".join(f"{quote(c)} = {mark}" for c in columns)
    sql = f"UPDATE {table.name} SET {assignments} WHERE {quote(key)} = {mark}"
    return BulkStatement(sql, _processors(table, (*columns, key), dialect))


@cache
def bulk_delete(table: Table, key: str, dialect: Dialect) -> BulkStatement:
    quote = dialect.identifier_preparer.quote
    sql = f"DELETE FROM {table.name} WHERE {quote(key)} = {_marker(dialect)}"
    return BulkStatement(sql, _processors(table, (key,), dialect))
