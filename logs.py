"""Structured logging that stays silent until the application turns logging on.

Lines go through the standard ``logging`` module under ``aipartnerupflow.*``, so the
embedding application decides levels and handlers; a disabled level costs one check.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

#: The record attribute holding a line's fields, for handlers that render them otherwise.
FIELDS_ATTRIBUTE = "structlog_fields"

_key_value = structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True)


def _render(logger: Any, method: str, fields: Any) -> dict[str, Any]:
    """The message as ``key=value`` text; the fields themselves ride along on the record."""
    return {"msg": _key_value(logger, method, dict(fields)), "extra": {FIELDS_ATTRIBUTE: fields}}


_processors: list[Any] = [
    structlog.stdlib.filter_by_level,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _render,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger writing to the stdlib logger ``name``."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=_processors,
        wrapper_class=structlog.stdlib.BoundLogger,
    )
