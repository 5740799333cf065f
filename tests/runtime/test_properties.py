"""Property: under any mix of valid and invalid commands, the projection equals a rebuild
from the log, invalid commands leave no trace, and tree_at reproduces every step."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aipartnerupflow import (
    TaskCreator,
    TaskRepository,
    create_session,
    log_position,
    rebuild_projections,
    tree_at,
)

IDS = ["t0", "t1", "t2", "t3", "t4", "t5"]
task_ids = st.sampled_from(IDS)
any_value = st.one_of(
    st.integers(-2, 3),
    st.text(max_size=3),
    st.none(),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
operations = st.one_of(
    st.tuples(st.just("create"), task_ids, task_ids),
    st.tuples(st.just("name"), task_ids, any_value),
    st.tuples(st.just("priority"), task_ids, any_value),
    st.tuples(st.just("inputs"), task_ids, any_value),
    st.tuples(st.just("dependencies"), task_ids, st.lists(task_ids, max_size=2)),
    st.tuples(
        st.just("status"),
        task_ids,
        st.sampled_from(["pending", "in_progress", "completed", "failed", "bogus"]),
    ),
    st.tuples(st.just("delete"), task_ids, st.none()),
    st.tuples(st.just("copy"), task_ids, st.booleans()),
)


async def apply(repo: TaskRepository, creator: TaskCreator, op: tuple[str, str, Any]) -> None:
    kind, task_id, value = op
    if kind == "create":
        await repo.create_task(name=f"task {task_id}", id=task_id, parent_id=value)
    elif kind in ("name", "priority", "inputs", "dependencies"):
        await repo.update_task_field(task_id, kind, value)
    elif kind == "status":
        await repo.update_task_status(task_id, value)
    elif kind == "delete":
        await repo.delete_task(task_id)
    else:
        await creator.create_task_copy(task_id, children=value)


async def run(ops: list[tuple[str, str, Any]], path: Path) -> None:
    db = create_session(path=path)
    repo, creator = TaskRepository(db), TaskCreator(db)
    await repo.create_task(name="root", id="t0")
    steps: list[tuple[int, dict[str, dict]]] = []
    try:
        for op in ops:
            before = log_position(db)
            try:
                await apply(repo, creator, op)
            except ValueError:
                assert log_position(db) == before, f"{op} failed but wrote events"
            rows = {t.id: t.to_dict() for t in await repo.list_tasks(limit=10**6)}
            steps.append((log_position(db), rows))
        rebuild_projections(db)
        rebuilt = {t.id: t.to_dict() for t in await repo.list_tasks(limit=10**6)}
        assert rebuilt == steps[-1][1]
        for position, rows in steps:
            roots = {row["id"] for row in rows.values() if row["parent_id"] is None}
            seen: dict[str, dict] = {}
            for root in roots:
                seen.update(
                    {t.id: t.to_dict() for t in tree_at(db, root, position=position).tasks()}
                )
            assert seen == rows
    finally:
        db.close()


@given(st.lists(operations, min_size=1, max_size=14))
def test_projection_log_and_time_travel_agree(ops: list[tuple[str, str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(ops, Path(tmp) / "prop.db"))
