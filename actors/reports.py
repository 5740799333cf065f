"""What a run tells the outside: stream events, the run summary and cancel answers.

Every shape is a ``TypedDict`` (plain dicts at run time, as the public API promises) and
is built only here, so the supervisor and the task manager cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NotRequired, TypedDict

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.projections.tree_node import derive_progress, derive_status

StreamEventType = Literal[
    "task_start",
    "progress",
    "task_completed",
    "task_failed",
    "task_cancelled",
    "task_waiting",
    "final",
]

_STATUS_EVENTS: dict[str, StreamEventType] = {
    TaskStatus.IN_PROGRESS: "task_start",
    TaskStatus.COMPLETED: "task_completed",
    TaskStatus.FAILED: "task_failed",
    TaskStatus.CANCELLED: "task_cancelled",
    TaskStatus.WAITING: "task_waiting",
}


class StreamEvent(TypedDict):
    """One committed change of a running tree, or the ``final`` event that ends its run."""

    type: StreamEventType
    task_id: str
    root_task_id: str
    status: str
    timestamp: float
    progress: float
    result: NotRequired[Any]
    error: NotRequired[str]
    final: NotRequired[bool]


class RunSummary(TypedDict):
    """How a run ended: the derived status and progress of the subtree that ran."""

    status: str
    progress: float
    root_task_id: str
    result: Any
    task_count: int


class CancelAnswer(TypedDict):
    """The answer to a cancel: ``status`` is ``cancelled`` when something was cancelled,
    ``failed`` for an unknown (``error``) or already finished (``current_status``) task."""

    status: Literal["cancelled", "failed"]
    message: str
    task_id: NotRequired[str]
    cancelled_task_ids: NotRequired[list[str]]
    partial_result: NotRequired[Any]
    token_usage: NotRequired[Any]
    current_status: NotRequired[str | None]
    error: NotRequired[str]


# ------------------------------------------------------------------ stream events


def task_event(root_id: str, task_id: str, values: Mapping[str, Any]) -> StreamEvent:
    """The stream event of a committed start, progress or end of ``task_id``.

    ``values`` are the recorded ones: ``status`` for an end, ``progress`` for progress,
    nothing more for a start; ``result``/``error`` when recorded.
    """
    status = values.get("status", TaskStatus.IN_PROGRESS)
    default_progress = 1.0 if status == TaskStatus.COMPLETED else 0.0
    event = StreamEvent(
        type="progress" if "progress" in values else _STATUS_EVENTS[status],
        task_id=task_id,
        root_task_id=root_id,
        status=status,
        timestamp=time.time(),
        progress=values.get("progress", default_progress),
    )
    if "result" in values:
        event["result"] = values["result"]
    if "error" in values:
        event["error"] = values["error"]
    return event


def final_event(summary: RunSummary, root_error: str | None) -> StreamEvent:
    """The event that always ends a run's stream, also when the tree failed."""
    event = StreamEvent(
        type="final",
        task_id=summary["root_task_id"],
        root_task_id=summary["root_task_id"],
        status=summary["status"],
        timestamp=time.time(),
        progress=summary["progress"],
        result=summary["result"],
        final=True,
    )
    if summary["status"] == TaskStatus.FAILED:
        event["error"] = root_error or "one or more tasks failed"
    return event


# ------------------------------------------------------------------ run summary


def run_summary(root_id: str, root_result: Any, statuses: Iterable[str]) -> RunSummary:
    """The summary of a run whose tasks ended with ``statuses``."""
    ended = list(statuses)
    return RunSummary(
        status=derive_status(ended),
        progress=derive_progress((status, 0.0) for status in ended),
        root_task_id=root_id,
        result=root_result,
        task_count=len(ended),
    )


# ------------------------------------------------------------------ cancel answers


def cancel_not_found(task_id: str) -> CancelAnswer:
    return CancelAnswer(status="failed", message=f"task {task_id!r} not found", error="not_found")


def cancel_refused(task_id: str, status: str | None) -> CancelAnswer:
    """The task is already finished (``status``), or gone from the tree (None)."""
    return CancelAnswer(
        status="failed",
        message=f"task {task_id!r} is already {status or 'gone'}",
        current_status=status,
    )


def cancelled(task_id: str, message: str, victims: list[str], report: Any = None) -> CancelAnswer:
    """Cancelled ``victims``; ``report`` is what the task's own executor's ``cancel()``
    returned, whose partial result and token usage the answer passes on."""
    answer = CancelAnswer(
        status="cancelled", message=message, task_id=task_id, cancelled_task_ids=victims
    )
    if isinstance(report, dict):
        if "partial_result" in report or "result" in report:
            answer["partial_result"] = report.get("partial_result", report.get("result"))
        if "token_usage" in report:
            answer["token_usage"] = report["token_usage"]
    return answer


def cancelled_result(report: Any) -> dict[str, Any] | None:
    """What a cancelled task records as its result: the partial result its executor's
    ``cancel()`` reported (with token usage), or None."""
    if not isinstance(report, dict):
        return None
    partial = report.get("partial_result", report.get("result"))
    if partial is None:
        return None
    usage = {"token_usage": report["token_usage"]} if "token_usage" in report else {}
    return {"partial_result": partial, **usage}
