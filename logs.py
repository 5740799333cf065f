"""Structured logging that stays silent until the application turns logging on.

Lines go through the standard ``logging`` module under ``aipartnerupflow.*``, so the
embedding application decides levels and handlers; the package's own logger has only a
``NullHandler``. A disabled level costs one check, and structlog is imported only when a
line is written. structlog's global configuration is never touched: this library's
processors are passed to the loggers it wraps.
"""

from __future__ import annotations

import logging
from typing import Any

#: The record attribute holding a line's fields, for handlers that render them otherwise
#: (the command line's JSON log format does).
FIELDS_ATTRIBUTE = "structlog_fields"


class Logger:
    """Writes ``event key=value ...`` lines to the stdlib logger ``name`` through structlog."""

    __slots__ = ("_bound", "_stdlib")

    def __init__(self, name: str) -> None:
        self._stdlib = logging.getLogger(name)
        self._bound: Any = None

    def info(self, event: str, **fields: Any) -> None:
        self._write(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._write(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._write(logging.ERROR, event, fields)

    def _write(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if not self._stdlib.isEnabledFor(level):
            return
        if self._bound is None:
            self._bound = _wrap(self._stdlib)
        self._bound.log(level, event, **fields)


def _wrap(stdlib: logging.Logger) -> Any:
    import structlog

    key_value = structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True)

    def render(logger: Any, method: str, fields: Any) -> dict[str, Any]:
        # The message is ``key=value`` text; the fields ride along on the record.
        return {"msg": key_value(logger, method, dict(fields)), "extra": {FIELDS_ATTRIBUTE: fields}}

    return structlog.wrap_logger(
        stdlib,
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            render,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def get_logger(name: str) -> Logger:
    """The logger ``name`` (under ``aipartnerupflow.``)."""
    return Logger(name)
