"""The readable history: progress folded, attempts and their durations, what a creation gave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aipartnerupflow.projections.readable import last_traceback, readable_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(position: int, task_id: str, kind: str, **changes: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "position": position,
        "task_id": task_id,
        "type": kind,
        "timestamp": T0 + timedelta(seconds=position),
        "cause": {"user_id": "ann", "request_id": None},
        "changes": {f: {"old": old, "new": new} for f, (old, new) in changes.items()},
    }


def test_ticks_fold_until_another_event_of_the_same_task() -> None:
    lines = readable_history(
        [
            entry(1, "a", "created", name=(None, "alpha"), id=(None, "a"), inputs=(None, {})),
            entry(2, "a", "started", attempt=(0, 1), status=("pending", "in_progress")),
            entry(3, "a", "progress", progress=(0.0, 0.1)),
            entry(4, "b", "progress", progress=(0.0, 0.5)),  # another task's tick
            entry(5, "a", "progress", progress=(0.1, 0.4)),
            entry(6, "a", "progress", progress=(0.4, 0.9)),
            entry(7, "a", "failed", error=(None, "boom"), completed_at=(None, T0)),
            entry(8, "a", "started", attempt=(1, 2)),
            entry(9, "a", "progress", progress=(0.0, 0.2)),
        ]
    )
    kinds = [(line["position"], line["type"], line["count"]) for line in lines]
    assert kinds == [
        (1, "created", 1),
        (2, "started", 1),
        (3, "progress", 3),
        (4, "progress", 1),
        (7, "failed", 1),
        (8, "started", 1),
        (9, "progress", 1),
    ]
    ticks = lines[2]
    assert ticks["last_position"] == 6
    assert ticks["changes"] == {"progress": {"old": 0.0, "new": 0.9}}
    failed = lines[4]
    assert (failed["attempt"], failed["duration"], failed["error"]) == (1, 5.0, "boom")
    assert failed["changes"] == {"error": {"old": None, "new": "boom"}}
    assert lines[5]["attempt"] == 2 and lines[6]["attempt"] == 2
    assert all(line["name"] == "alpha" for line in lines if line["task_id"] == "a")
    assert lines[3]["name"] is None  # b's creation is not in the entries
    assert lines[0]["changes"] == {"name": {"old": None, "new": "alpha"}}
    assert lines[0]["cause"] == {"user_id": "ann"}


def test_the_entries_are_left_as_they_were() -> None:
    entries = [
        entry(1, "a", "progress", progress=(0.0, 0.1)),
        entry(2, "a", "progress", progress=(0.1, 0.2)),
    ]
    readable_history(entries)
    assert entries[0]["changes"]["progress"] == {"old": 0.0, "new": 0.1}


def test_the_latest_attempt_decides_the_traceback() -> None:
    failed = {**entry(3, "a", "failed"), "traceback": "Traceback ...\nValueError: x\n"}
    assert last_traceback([entry(1, "a", "started"), failed]) == failed["traceback"]
    assert last_traceback([entry(1, "a", "started"), failed, entry(4, "a", "started")]) is None
    assert last_traceback([entry(1, "a", "completed")]) is None


events = st.lists(
    st.tuples(
        st.sampled_from("ab"), st.sampled_from(["started", "progress", "progress", "completed"])
    ),
    max_size=40,
)


@given(events)
def test_every_event_is_on_exactly_one_line(picked: list[tuple[str, str]]) -> None:
    entries = [
        entry(i + 1, task, kind, progress=(0.0, i / 100)) for i, (task, kind) in enumerate(picked)
    ]
    lines = readable_history(entries)
    assert sum(line["count"] for line in lines) == len(entries)
    assert [line["position"] for line in lines] == sorted(line["position"] for line in lines)
    covered = sorted(
        e["position"]
        for line in lines
        for e in entries
        if e["task_id"] == line["task_id"]
        and line["position"] <= e["position"] <= line["last_position"]
        and (e["type"] == "progress") == (line["type"] == "progress")
    )
    assert covered == [e["position"] for e in entries]
