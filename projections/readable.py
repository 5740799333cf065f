"""History a person can read: ``history`` entries folded into lines.

One line per event, except that a task's progress ticks between two other events of that
task fold into one line (``count`` ticks, first value → last). Each line says which
attempt of its task it belongs to, how long that attempt ran when it ended, and keeps
only the changes a reader needs: the event's type already says the status, and the
bookkeeping times are the line's own time and duration.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

#: Columns every status change touches; the line's type, time and duration say them.
_BOOKKEEPING = frozenset({"status", "updated_at", "started_at", "completed_at"})

#: Columns of a new task that no one gave it: the line's task and time say them, the
#: rest start out the same for every task.
_UNGIVEN = _BOOKKEEPING | {"id", "created_at", "progress", "attempt", "has_children", "has_copy"}

#: Events that end an attempt: their line gets the attempt's duration.
_ENDINGS = frozenset({"completed", "failed", "cancelled", "waiting", "attempt_failed"})


def _shown_changes(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    changes = entry["changes"]
    if entry["type"] == "created":
        # A creation "changes" every column from nothing: keep what was given.
        return {
            f: c
            for f, c in changes.items()
            if f not in _UNGIVEN and c["new"] is not None and c["new"] not in ({}, [])
        }
    return {f: c for f, c in changes.items() if f not in _BOOKKEEPING}


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else (end - start).total_seconds()


def readable_history(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold ``history`` entries (one task's or a whole tree's, oldest first) into lines.

    Each line: ``position`` and ``last_position`` (they differ for folded ticks),
    ``timestamp``, ``task_id``, ``name`` (from the task's creation, when it is in the
    entries), ``type``, ``count`` (events folded), ``attempt``, ``duration`` (seconds
    the attempt ran, on lines that end one), ``changes`` (``{field: {old, new}}``),
    ``cause``, ``error`` and ``traceback`` (on failures, also of an attempt that is
    retried), and ``details`` of records that change no column.
    """
    names: dict[str, str] = {}
    attempts: dict[str, int] = {}
    started: dict[str, datetime] = {}
    ticking: dict[str, dict[str, Any]] = {}
    lines: list[dict[str, Any]] = []
    for entry in entries:
        task_id = entry["task_id"]
        kind = entry["type"]
        changes = _shown_changes(entry)
        if kind == "progress" and task_id in ticking:
            line = ticking[task_id]
            line["count"] += 1
            line["last_position"] = entry["position"]
            line["changes"]["progress"]["new"] = changes.get("progress", {}).get("new")
            continue
        ticking.pop(task_id, None)
        if kind == "created":
            names[task_id] = entry["changes"].get("name", {}).get("new") or task_id
        elif kind == "started":
            attempts[task_id] = (
                changes.get("attempt", {}).get("new") or attempts.get(task_id, 0) + 1
            )
            started[task_id] = entry["timestamp"]
        line = {
            "position": entry["position"],
            "last_position": entry["position"],
            "timestamp": entry["timestamp"],
            "task_id": task_id,
            "name": names.get(task_id),
            "type": kind,
            "count": 1,
            "attempt": attempts.get(task_id),
            "duration": None,
            "changes": changes,
            "cause": {k: v for k, v in entry["cause"].items() if v is not None},
            "error": changes.get("error", {}).get("new") or entry.get("details", {}).get("error"),
            "details": entry.get("details", {}),
            "traceback": entry.get("traceback"),
        }
        if kind in _ENDINGS:
            line["duration"] = _seconds(started.pop(task_id, None), entry["timestamp"])
        elif kind == "progress":
            line["changes"] = {
                "progress": dict(changes.get("progress", {"old": None, "new": None}))
            }
            ticking[task_id] = line
        lines.append(line)
    return lines


def last_traceback(entries: Iterable[dict[str, Any]]) -> str | None:
    """The traceback of a task's latest failure, if its latest attempt raised one."""
    trace = None
    for entry in entries:
        if entry["type"] == "started":
            trace = None
        elif entry["type"] in ("failed", "attempt_failed"):
            trace = entry.get("traceback")
    return trace
