"""``tasks history`` drawn for people: each line of the readable history, its changes below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.markup import escape

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.runtime.cli.view import (
    cell,
    duration,
    first_line,
    local_time,
    short_id,
    styled,
)

_STATUS_OF = {
    "started": TaskStatus.IN_PROGRESS,
    "progress": TaskStatus.IN_PROGRESS,
    "waiting": TaskStatus.WAITING,
    "completed": TaskStatus.COMPLETED,
    "failed": TaskStatus.FAILED,
    "attempt_failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.CANCELLED,
    "reset": TaskStatus.PENDING,
}


def _span(line: Mapping[str, Any]) -> str:
    first, last = line["position"], line["last_position"]
    return str(first) if first == last else f"{first}-{last}"


def styled_event(line: Mapping[str, Any]) -> str:
    """The event, coloured by the status it leads to."""
    status = _STATUS_OF.get(line["type"])
    return styled(status, _event(line)) if status else escape(_event(line))


def _event(line: Mapping[str, Any]) -> str:
    """``progress x37``, ``started #2``, ``failed #2 after 1.20 s``."""
    text = line["type"]
    if line["count"] > 1:
        text += f" x{line['count']}"
    if line["attempt"] and line["type"] != "progress":
        text += f" #{line['attempt']}"
    if line["duration"] is not None:
        text += f" after {duration(line['duration'])}"
    return text


def _changes(line: Mapping[str, Any], full: bool) -> str:
    created = line["type"] == "created"
    rows = [
        f"{field}: {cell(c['new'], full)}"
        if created
        else f"{field}: {cell(c['old'], full)} → {cell(c['new'], full)}"
        for field, c in line["changes"].items()
    ]
    rows.extend(f"{field}: {cell(value, full)}" for field, value in line["details"].items())
    trace = line.get("traceback")
    if trace:
        rows.append(trace.rstrip() if full else f"traceback: {_last_frame(trace)}")
    return "\n".join(rows)


def _last_frame(trace: str) -> str:
    """The innermost ``File ..., line ..., in ...`` of a traceback (where it raised)."""
    frames = [row.strip() for row in trace.splitlines() if row.lstrip().startswith("File ")]
    return frames[-1] if frames else first_line(trace)


def history_lines(lines: list[dict[str, Any]], *, tree: bool, wide: bool, full: bool) -> Group:
    """One heading per line (position, time, task, event, cause), its changes indented
    below it: a log reads in any terminal width, where a table's columns would crush
    the values a reader came for."""
    out = []
    for line in lines:
        task_id = short_id(line["task_id"] or "", wide)
        task = f"{line['name']} ({task_id})" if line["name"] else task_id
        cause = ", ".join(f"{k}={v}" for k, v in line["cause"].items())
        heading = [
            f"[dim]{_span(line):>5}[/dim]",
            local_time(line["timestamp"]),
            *([f"[bold]{escape(task)}[/bold]"] if tree else []),
            styled_event(line),
            *([f"[dim]({escape(cause)})[/dim]"] if cause else []),
        ]
        out.append("  ".join(heading))
        out.extend(f"        {escape(row)}" for row in _changes(line, full).splitlines())
    return Group(*out)
