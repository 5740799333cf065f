"""The shapes a run reports: stream events, summaries and cancel answers."""

from __future__ import annotations

from aipartnerupflow.actors import reports
from aipartnerupflow.events.domain.status import TaskStatus


def test_task_events_are_typed_by_what_was_recorded() -> None:
    start = reports.task_event("r", "t", {"attempt": 1})
    progress = reports.task_event("r", "t", {"progress": 0.5})
    done = reports.task_event("r", "t", {"status": TaskStatus.COMPLETED, "result": {"x": 1}})
    failed = reports.task_event("r", "t", {"status": TaskStatus.FAILED, "error": "boom"})
    assert (start["type"], start["status"], start["progress"]) == ("task_start", "in_progress", 0)
    assert (progress["type"], progress["progress"]) == ("progress", 0.5)
    assert (done["type"], done["progress"], done["result"]) == ("task_completed", 1.0, {"x": 1})
    assert (failed["type"], failed["error"]) == ("task_failed", "boom")
    assert all(e["root_task_id"] == "r" for e in (start, progress, done, failed))


def test_a_failed_run_ends_its_stream_with_an_error() -> None:
    summary = reports.run_summary("r", None, [TaskStatus.COMPLETED, TaskStatus.FAILED])
    assert summary == {
        "status": "failed",
        "progress": 1.0,
        "root_task_id": "r",
        "result": None,
        "task_count": 2,
    }
    final = reports.final_event(summary, None)
    assert (final["type"], final["final"], final["error"]) == (
        "final",
        True,
        "one or more tasks failed",
    )
    assert "error" not in reports.final_event(reports.run_summary("r", 1, ["completed"]), None)


def test_cancel_answers() -> None:
    assert reports.cancel_not_found("x")["error"] == "not_found"
    assert reports.cancel_refused("x", "completed")["current_status"] == "completed"
    report = {"partial_result": {"words": 3}, "token_usage": {"total": 9}}
    answer = reports.cancelled("x", "stop", ["x", "y"], report)
    assert answer == {
        "status": "cancelled",
        "message": "stop",
        "task_id": "x",
        "cancelled_task_ids": ["x", "y"],
        "partial_result": {"words": 3},
        "token_usage": {"total": 9},
    }
    assert "partial_result" not in reports.cancelled("x", "stop", [], "not a dict")
    assert reports.cancelled_result(report) == {
        "partial_result": {"words": 3},
        "token_usage": {"total": 9},
    }
    assert reports.cancelled_result({"token_usage": 1}) is None
