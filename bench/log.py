"""Event-log figures on a durable SQLite file: append rate, rebuild rate, time travel.

    python bench/log.py           # 5 runs of each measure
    python bench/log.py --quick   # small sizes, one run (a smoke test)

Figures are medians over the runs, min and max in brackets. Targets: batched append
>= 20,000 events/s; projection rebuild >= 100,000 events/s (over >= 100k events);
tree_at on a 10k-task tree <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskRepository,
    TaskStatus,
    create_session,
    log_position,
    rebuild_projections,
    tree_at,
)
from aipartnerupflow.events.store import Work


def flat_tree(prefix: str, size: int) -> list[dict[str, Any]]:
    root = {"id": f"{prefix}-root", "name": "root", "inputs": {"n": 0}}
    return [
        root,
        *(
            {
                "id": f"{prefix}-{i}",
                "name": f"task {i}",
                "parent_id": root["id"],
                "inputs": {"n": i},
            }
            for i in range(size - 1)
        ),
    ]


def deep_tree(width: int) -> list[dict[str, Any]]:
    """root -> width -> width (10,101 tasks for width 100)."""
    tasks = [{"id": "root", "name": "root"}]
    for i in range(width):
        tasks.append({"id": f"m{i}", "name": "middle", "parent_id": "root"})
        tasks.extend(
            {"id": f"m{i}-{j}", "name": "leaf", "parent_id": f"m{i}"} for j in range(width)
        )
    return tasks


def run_statuses(db: Database, tree_id: Any, ids: list[str], *, progress: bool) -> None:
    """Start, (report progress for) and complete every task in one unit of work."""

    def command(work: Work) -> None:
        tree = work.tree(tree_id)
        for task_id in ids:
            tree.set_status(task_id, TaskStatus.IN_PROGRESS, {})
            if progress:
                tree.set_status(task_id, TaskStatus.IN_PROGRESS, {}, progress=0.5)
            tree.set_status(task_id, TaskStatus.COMPLETED, {}, result={"ok": True})

    db.call(db.log.run, command)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def figure(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}..{max(values):{fmt}}]"


async def append_rates(path: Path, trees: int, size: int) -> tuple[float, float, float]:
    """Events/s creating trees from arrays, recording batched status changes, and for
    single-event commits."""
    db = create_session(path=path)
    creator, repo = TaskCreator(db), TaskRepository(db)
    before = log_position(db)
    started = time.perf_counter()
    roots = [
        await creator.create_task_tree_from_array(flat_tree(f"t{k}", size)) for k in range(trees)
    ]
    create_rate = (log_position(db) - before) / (time.perf_counter() - started)
    root = roots[0]
    ids = [task.id for task in root.tasks()]
    before = log_position(db)
    seconds = timed(lambda: run_statuses(db, root.task.tree_id, ids, progress=False))
    status_rate = (log_position(db) - before) / seconds
    before = log_position(db)
    started = time.perf_counter()
    for i in range(300):
        await repo.update_task_priority(ids[i % len(ids)], i % 5)
    single_rate = (log_position(db) - before) / (time.perf_counter() - started)
    db.close()
    return create_rate, status_rate, single_rate


async def rebuild_rate(path: Path, trees: int, size: int) -> tuple[float, int]:
    db = create_session(path=path)
    creator = TaskCreator(db)
    for k in range(trees):
        root = await creator.create_task_tree_from_array(flat_tree(f"r{k}", size))
        run_statuses(db, root.task.tree_id, [t.id for t in root.tasks()], progress=True)
    events = log_position(db)
    seconds = timed(lambda: rebuild_projections(db))
    db.close()
    return events / seconds, events


async def tree_at_times(path: Path, width: int, runs: int) -> tuple[list[float], list[float]]:
    db = create_session(path=path)
    root = await TaskCreator(db).create_task_tree_from_array(deep_tree(width))
    ids = [task.id for task in root.tasks()]
    run_statuses(db, root.task.tree_id, ids, progress=False)
    end = log_position(db)
    late = [timed(lambda: tree_at(db, "root", position=end)) for _ in range(runs)]
    middle = [timed(lambda: tree_at(db, "root", position=end // 2)) for _ in range(runs)]
    db.close()
    return late, middle


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    trees, size = (2, 100) if args.quick else (10, 1000)
    rebuild_trees = 2 if args.quick else 25
    width = 10 if args.quick else 100

    creates, statuses, singles, rebuilds = [], [], [], []
    events = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            create, status, single = await append_rates(Path(tmp) / "a.db", trees, size)
            creates.append(create)
            statuses.append(status)
            singles.append(single)
        with tempfile.TemporaryDirectory() as tmp:
            rate, events = await rebuild_rate(Path(tmp) / "r.db", rebuild_trees, size)
            rebuilds.append(rate)
    with tempfile.TemporaryDirectory() as tmp:
        late, middle = await tree_at_times(Path(tmp) / "t.db", width, max(runs, 3))

    print(f"median [min..max] over {runs} run(s), durable SQLite file (WAL, synchronous=FULL)")
    print(
        f"append, trees from arrays ({trees} x {size} tasks): "
        f"{figure(creates, ',.0f')} events/s   (target >= 20,000)"
    )
    print(
        f"append, status changes ({2 * size:,} per commit): "
        f"{figure(statuses, ',.0f')} events/s   (target >= 20,000)"
    )
    print(f"single-event commits, for context:       {figure(singles, ',.0f')} events/s")
    print(
        f"rebuild of {events:,} events:              "
        f"{figure(rebuilds, ',.0f')} events/s   (target >= 100,000)"
    )
    tasks = 1 + width + width * width
    print(
        f"tree_at, {tasks:,}-task tree, late position: "
        f"{figure([t * 1000 for t in late], '.1f')} ms   (target <= 100)"
    )
    print(
        f"tree_at, {tasks:,}-task tree, mid position:  "
        f"{figure([t * 1000 for t in middle], '.1f')} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
