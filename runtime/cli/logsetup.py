"""Log lines of a command: ``--log-format json|console`` at ``--log-level``, on stderr.

The library's loggers stay silent until a host configures logging; the command line is
such a host. Lines logged through ``aipartnerupflow.logs`` carry their fields, which are
rendered here; lines from other libraries (uvicorn's access log) are shown as records.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aipartnerupflow.logs import FIELDS_ATTRIBUTE


class LogFormat(StrEnum):
    """How log lines are written."""

    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    """The lowest level written."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class _Formatter(logging.Formatter):
    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        import structlog  # here: a command that logs nothing never loads it

        self.render: Any = (
            structlog.processors.JSONRenderer()
            if log_format == LogFormat.JSON
            else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        )

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if fields is None:
            fields = {
                "event": record.getMessage(),
                "level": record.levelname.lower(),
                "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            }
        fields = {**fields, "logger": record.name}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return str(self.render(None, record.levelname.lower(), fields))


def configure(level: LogLevel, log_format: LogFormat) -> None:
    """Send every log line of this process to stderr in ``log_format`` from ``level`` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
