"""A tree's run over time, from its log: each task's attempts with start, end and outcome."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree, apply_event
from aipartnerupflow.events.store.recorder import events_table
from aipartnerupflow.projections.lineage import tree_of

if TYPE_CHECKING:
    from aipartnerupflow.events.store.database import LogDatabase

_c = events_table.c
#: Longest text kept of a value shown on hover; the log keeps the whole value.
PREVIEW_CHARS = 2000


def _ms(when: datetime | None) -> float | None:
    return None if when is None else round(when.timestamp() * 1000, 3)


def _preview(value: Any) -> Any:
    text = repr(value) if not isinstance(value, str) else value
    return value if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


class _Task:
    __slots__ = ("attempts", "created", "open")

    def __init__(self, created: float | None) -> None:
        self.created = created
        self.attempts: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None


def _follow(task: _Task, event: Any, state: dict[str, Any]) -> None:
    """Open or close an attempt as the event says."""
    kind = event.kind
    when = _ms(event.timestamp)
    if kind == "forked" and state["status"] == TaskStatus.COMPLETED:
        task.attempts.append(
            {
                "start": _ms(state["started_at"]) or when,
                "end": _ms(state["completed_at"]) or when,
                "status": "completed",
                "kept": True,
            }
        )
    elif kind == "started":
        task.open = {"start": _ms(state["started_at"]) or when, "end": None, "status": "running"}
        task.attempts.append(task.open)
    elif kind in ("completed", "failed", "cancelled", "reset", "waiting"):
        attempt = task.open or {"start": when, "status": kind}
        if task.open is None:
            task.attempts.append(attempt)
        attempt["end"] = _ms(state["completed_at"]) or when
        attempt["status"] = kind
        if state["error"]:
            attempt["error"] = _preview(state["error"])
        task.open = None


def _timeline(db: LogDatabase, root_id: str) -> dict[str, Any]:
    current = tree_of(db, root_id)
    current.require(root_id, field="root_id")
    ids = [root_id, *current.descendant_ids(root_id)]
    wanted = {task_id: index for index, task_id in enumerate(ids)}
    query = (
        select(_c.position, _c.version, _c.topic, _c.state)
        .where(_c.tree_id == current.id)
        .order_by(_c.version)
    )
    to_domain_event = db.log.mapper.to_domain_event
    tree: TaskTree | None = None
    tasks: dict[str, _Task] = {}
    # Tuples of plain values, which the cyclic GC stops tracking: a run of 10k tasks
    # makes 30k of them, and lists would make every later collection walk them all.
    changes: list[tuple[int, float | None, int, str]] = []
    with db.connections.read() as connection:
        # Rows are folded as they come rather than all held first, for the same reason.
        for position, version, topic, state in connection.execute(query):
            event = to_domain_event(StoredEvent(current.id, version, topic, bytes(state)))
            tree = apply_event(event, tree)
            task_id = getattr(event, "task_id", None)
            if not isinstance(event, TaskTree.TaskEvent) or task_id not in wanted:
                continue
            now = tree.tasks.get(task_id)
            if now is None:
                continue
            if task_id not in tasks:
                tasks[task_id] = _Task(_ms(event.timestamp))
            _follow(tasks[task_id], event, now)
            changes.append((position, _ms(event.timestamp), wanted[task_id], now["status"]))
    return {
        "root_id": root_id,
        "tree_id": str(current.id),
        "tasks": [_task_view(current.tasks[tid], tasks.get(tid), wanted) for tid in ids],
        "changes": changes,
    }


def _task_view(state: dict[str, Any], task: _Task | None, index: dict[str, int]) -> dict[str, Any]:
    return {
        "id": state["id"],
        "name": state["name"],
        "parent": index.get(state["parent_id"]),
        "dependencies": [index[d["id"]] for d in state["dependencies"] if d["id"] in index],
        "status": state["status"],
        "created": None if task is None else task.created,
        "attempts": [] if task is None else task.attempts,
        "inputs": _preview(state["inputs"]),
        "result": _preview(state["result"]),
        "error": _preview(state["error"]),
        "original_task_id": state["original_task_id"],
    }


def timeline(db: LogDatabase, root_id: str) -> dict[str, Any]:
    """The run of ``root_id``'s subtree as the log tells it: ``tasks`` in tree order (each
    with ``created``, ``attempts`` [{start, end, status, error?}] in epoch milliseconds,
    ``parent`` and ``dependencies`` as indexes into ``tasks``, and previews of inputs,
    result and error) and ``changes``: ``(position, time, task index, status)`` per event,
    from which the tree at any position can be redrawn."""
    return db.call(_timeline, db, root_id)
