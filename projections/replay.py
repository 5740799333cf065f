"""Compare two runs task by task: which tasks match, what changed, where they diverged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from aipartnerupflow.events.domain.tree import TaskState, TaskTree
from aipartnerupflow.projections.lineage import tree_of
from aipartnerupflow.projections.models import TaskModel

if TYPE_CHECKING:
    from aipartnerupflow.events.store.database import LogDatabase

_tasks = TaskModel.__table__
#: Fields whose difference makes two matched tasks differ (durations are only shown).
COMPARED = ("status", "inputs", "params", "result", "error", "error_type", "attempt")
#: How many copies or forks back a task's lineage is followed.
_MAX_GENERATIONS = 64


class _Side:
    """One tree of the comparison: its tasks in tree order, with their name paths."""

    def __init__(self, tree: TaskTree, root_id: str) -> None:
        tree.require(root_id, field="root_id")
        self.tasks = tree.tasks
        self.ids = [root_id, *tree.descendant_ids(root_id)]
        self.paths: dict[str, tuple[str, ...]] = {}
        for task_id in self.ids:  # parents come first
            state = tree.tasks[task_id]
            above = () if task_id == root_id else self.paths[state["parent_id"]]
            self.paths[task_id] = (*above, state["name"])


def _origins(db: LogDatabase, sides: Iterable[_Side]) -> dict[str, str | None]:
    """``original_task_id`` of every task of both trees and of their ancestors."""
    origin: dict[str, str | None] = {
        task_id: side.tasks[task_id]["original_task_id"] for side in sides for task_id in side.ids
    }
    wanted = {o for o in origin.values() if o is not None and o not in origin}
    for _ in range(_MAX_GENERATIONS):
        if not wanted:
            break
        chunk_ids = list(wanted)
        found: dict[str, str | None] = dict.fromkeys(chunk_ids)
        with db.connections.read() as connection:
            for start in range(0, len(chunk_ids), 500):
                query = select(_tasks.c.id, _tasks.c.original_task_id).where(
                    _tasks.c.id.in_(chunk_ids[start : start + 500])
                )
                found.update(dict(connection.execute(query).tuples().all()))
        origin.update(found)
        wanted = {o for o in found.values() if o is not None and o not in origin}
    return origin


def _chain(task_id: str, origin: dict[str, str | None]) -> Iterable[str]:
    """The task, the task it came from, and so on back."""
    seen: set[str] = set()
    current: str | None = task_id
    while current is not None and current not in seen and len(seen) <= _MAX_GENERATIONS:
        seen.add(current)
        yield current
        current = origin.get(current)


def _match(db: LogDatabase, a: _Side, b: _Side) -> list[tuple[str | None, str | None, str]]:
    """Pairs ``(a id, b id, how)``: by lineage (one came from the other, or both from the
    same task), then by path of names; in a's order, then b's unmatched ones."""
    origin = _origins(db, (a, b))
    claim: dict[str, str] = {}
    for a_id in a.ids:
        for ancestor in _chain(a_id, origin):
            claim.setdefault(ancestor, a_id)
    pair_of: dict[str, tuple[str, str]] = {}
    for b_id in b.ids:
        for ancestor in _chain(b_id, origin):
            claimed = claim.get(ancestor)
            if claimed is not None and claimed not in pair_of:
                pair_of[claimed] = (b_id, "lineage")
                break
    matched_b = {b_id for b_id, _ in pair_of.values()}
    by_path: dict[tuple[str, ...], list[str]] = {}
    for b_id in b.ids:
        if b_id not in matched_b:
            by_path.setdefault(b.paths[b_id], []).append(b_id)
    pairs: list[tuple[str | None, str | None, str]] = []
    for a_id in a.ids:
        found = pair_of.get(a_id)
        if found is None and by_path.get(a.paths[a_id]):
            found = (by_path[a.paths[a_id]].pop(0), "path")
            matched_b.add(found[0])
        pairs.append((a_id, *found) if found else (a_id, None, "only_a"))
    pairs.extend((None, b_id, "only_b") for b_id in b.ids if b_id not in matched_b)
    return pairs


def _duration(state: TaskState | None) -> float | None:
    if state is None or state["started_at"] is None or state["completed_at"] is None:
        return None
    return (state["completed_at"] - state["started_at"]).total_seconds()


def _comparable(state: TaskState, field: str, rename: dict[str, str]) -> Any:
    value = state[field]
    if field == "inputs" and rename:
        # Dependency results are merged into inputs under the dependency's id.
        return {rename.get(key, key): v for key, v in value.items()}
    if field == "result" and rename:
        # Results built from dependencies' (an aggregate's) are keyed by their ids too.
        return _renamed_keys(value, rename)
    return value


def _renamed_keys(value: Any, rename: dict[str, str]) -> Any:
    """``value`` with every mapping key that is a matched task id renamed (values are JSON,
    at most 64 levels deep, so recursion is bounded)."""
    if isinstance(value, dict):
        return {rename.get(k, k): _renamed_keys(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed_keys(v, rename) for v in value]
    return value


def _started(state: TaskState | None) -> datetime | None:
    return None if state is None else state["started_at"] or state["completed_at"]


def _entry(
    a: TaskState | None, b: TaskState | None, how: str, path: tuple[str, ...], rename: dict
) -> dict[str, Any]:
    changes: dict[str, dict[str, Any]] = {}
    if a is not None and b is not None:
        for field in COMPARED:
            old, new = a[field], _comparable(b, field, rename)
            if old != new:
                changes[field] = {"old": old, "new": new}
    either = a if a is not None else b
    assert either is not None
    state = how if how.startswith("only") else "changed" if changes else "same"
    return {
        "a": None if a is None else a["id"],
        "b": None if b is None else b["id"],
        "name": either["name"],
        "path": "/".join(path),
        "matched_by": None if how.startswith("only") else how,
        "state": state,
        "status": {"old": a and a["status"], "new": b and b["status"]},
        "duration": {"old": _duration(a), "new": _duration(b)},
        "changes": changes,
    }


def _diff(db: LogDatabase, root_a: str, root_b: str) -> dict[str, Any]:
    a = _Side(tree_of(db, root_a), root_a)
    b = _Side(tree_of(db, root_b), root_b)
    pairs = _match(db, a, b)
    rename = {b_id: a_id for a_id, b_id, _ in pairs if a_id is not None and b_id is not None}
    tasks = [
        _entry(
            a.tasks.get(a_id) if a_id else None,
            b.tasks.get(b_id) if b_id else None,
            how,
            a.paths[a_id] if a_id else b.paths[b_id or ""],
            rename,
        )
        for a_id, b_id, how in pairs
    ]
    differing = [(i, t) for i, t in enumerate(tasks) if t["state"] != "same"]

    def when(item: tuple[int, dict[str, Any]]) -> tuple[bool, datetime | str, int]:
        index, entry = item
        times = [
            t
            for t in (
                _started(a.tasks.get(entry["a"] or "")),
                _started(b.tasks.get(entry["b"] or "")),
            )
            if t is not None
        ]
        return (not times, min(times) if times else "", index)

    first = min(differing, key=when)[1] if differing else None
    counts = {state: 0 for state in ("same", "changed", "only_a", "only_b")}
    for entry in tasks:
        counts[entry["state"]] += 1
    return {
        "a": root_a,
        "b": root_b,
        "tasks": tasks,
        "summary": {
            "counts": counts,
            "identical": not differing,
            "first_divergence": first,
            "only_a": [t["a"] for t in tasks if t["state"] == "only_a"],
            "only_b": [t["b"] for t in tasks if t["state"] == "only_b"],
        },
    }


def diff(db: LogDatabase, root_a: str, root_b: str) -> dict[str, Any]:
    """Compare the trees (or subtrees) of ``root_a`` and ``root_b`` task by task.

    Tasks are matched by lineage (a fork or copy of the other, or both from the same
    task), else by their path of names. Each entry of ``tasks`` has ``a``, ``b`` (ids or
    None), ``name``, ``path``, ``matched_by``, ``state`` (same, changed, only_a,
    only_b), ``status`` and ``duration`` (old/new), and ``changes``: ``{field: {"old",
    "new"}}`` over status, inputs, params, result, error, error_type and attempt.
    ``summary`` has ``counts`` per state, ``identical``, the ``first_divergence`` (the
    earliest to start of the tasks that differ), and the ids ``only_a`` / ``only_b`` has.
    """
    return db.call(_diff, db, root_a, root_b)
