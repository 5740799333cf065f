"""Who or what caused a change: recorded with every event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_current: ContextVar[dict[str, Any]] = ContextVar("aipartnerupflow_cause", default={})  # noqa: B039


@contextmanager
def caused_by(
    *, user_id: str | None = None, request_id: str | None = None, hook: str | None = None
) -> Iterator[None]:
    """Attribute every change made inside the block to this user, request or hook."""
    merged = {**_current.get()}
    for key, value in (("user_id", user_id), ("request_id", request_id), ("hook", hook)):
        if value is not None:
            merged[key] = value
    token = _current.set(merged)
    try:
        yield
    finally:
        _current.reset(token)


def current_cause(default_user_id: str | None = None) -> dict[str, Any]:
    """The cause to record now; the acting user defaults to ``default_user_id``."""
    cause = dict(_current.get())
    if "user_id" not in cause and default_user_id is not None:
        cause["user_id"] = default_user_id
    return cause
