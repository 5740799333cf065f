"""Engine figures: run whole trees on a durable SQLite file and print what it cost.

    python bench/engine.py            # every workload, 3 runs each
    python bench/engine.py --runs 5
    python bench/engine.py --quick    # small sizes, one run (a smoke test)

Each run is a fresh subprocess with a fresh database, so peak RSS belongs to that
workload alone. Figures are medians over the runs (min and max in brackets).
Workloads: a 10k-task tree (root -> 100 -> 100), a chain of 1,000 dependent tasks, a
fan-out of 1,000 siblings (trivial executors), and the time for a cancel of a running
1,000-task tree to be recorded for every task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aipartnerupflow import (
    BaseTask,
    TaskCreator,
    TaskManager,
    TaskStatus,
    create_session,
    executor_register,
    log_position,
)


@executor_register()
class Noop(BaseTask):
    id = "noop"
    name = "noop"
    description = "returns at once"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}


@executor_register()
class Sleeper(BaseTask):
    id = "sleeper"
    name = "sleeper"
    description = "sleeps until cancelled"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {}


def tree_10k(width: int) -> list[dict[str, Any]]:
    tasks = [{"id": "root", "name": "noop"}]
    for i in range(width):
        tasks.append({"id": f"m{i}", "name": "noop", "parent_id": "root"})
        tasks.extend(
            {"id": f"m{i}-{j}", "name": "noop", "parent_id": f"m{i}"} for j in range(width)
        )
    return tasks


def chain(n: int) -> list[dict[str, Any]]:
    tasks = [{"id": "t0", "name": "noop"}]
    tasks.extend(
        {"id": f"t{i}", "name": "noop", "parent_id": "t0", "dependencies": [f"t{i - 1}"]}
        for i in range(1, n)
    )
    return tasks


def fan_out(n: int, executor: str = "noop") -> list[dict[str, Any]]:
    root = {"id": "root", "name": "noop", "dependencies": []}
    return [root, *({"id": f"c{i}", "name": executor, "parent_id": "root"} for i in range(n))]


async def run_workload(name: str, size: int, path: Path) -> dict[str, Any]:
    db = create_session(path=path)
    shapes = {"tree": tree_10k, "chain": chain, "fanout": fan_out}
    if name == "cancel":
        return await cancel_workload(db, size)
    tree = await TaskCreator(db).create_task_tree_from_array(shapes[name](size))
    before = log_position(db)
    started = time.perf_counter()
    summary = await TaskManager(db, max_concurrency=256).run_tree(tree.task.id)
    elapsed = time.perf_counter() - started
    assert summary["status"] == TaskStatus.COMPLETED, summary
    tasks = summary["task_count"]
    events = log_position(db) - before
    db.close()
    return {
        "seconds": elapsed,
        "tasks_per_s": tasks / elapsed,
        "events_per_s": events / elapsed,
        "tasks": tasks,
        "events": events,
    }


async def cancel_workload(db: Any, size: int) -> dict[str, Any]:
    """A fan-out whose children all run (and sleep) when the root is cancelled."""
    tasks = [{"id": "root", "name": "sleeper"}]
    tasks.extend({"id": f"c{i}", "name": "sleeper", "parent_id": "root"} for i in range(size - 1))
    tree = await TaskCreator(db).create_task_tree_from_array(tasks)
    manager = TaskManager(db, max_concurrency=size)
    run = asyncio.create_task(manager.run_tree(tree.task.id))
    repo = manager.task_repository
    while len(await repo.list_tasks(status=TaskStatus.IN_PROGRESS, limit=size)) < size:
        await asyncio.sleep(0.05)
    started = time.perf_counter()
    answer = await manager.cancel_task("root", "bench")
    elapsed = time.perf_counter() - started
    summary = await run
    cancelled = len(await repo.list_tasks(status=TaskStatus.CANCELLED, limit=size))
    assert answer["status"] == "cancelled" and cancelled == size, (answer, cancelled)
    assert summary["status"] == TaskStatus.CANCELLED
    db.close()
    return {"seconds": elapsed, "tasks": size}


def child_main(name: str, size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run_workload(name, size, Path(tmp) / "bench.db"))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def measure(name: str, size: int, runs: int) -> list[dict[str, Any]]:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--size", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def spread(results: list[dict[str, Any]], key: str, fmt: str) -> str:
    values = [r[key] for r in results]
    med = statistics.median(values)
    return f"{med:{fmt}} [{min(values):{fmt}}..{max(values):{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--size", type=int)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.size)
        return
    runs = 1 if args.quick else args.runs
    workloads = [
        (
            "tree",
            10 if args.quick else 100,
            "10k-task tree (root -> 100 -> 100)",
            "target <= 1.5 s, peak RSS <= 150 MB",
        ),
        ("chain", 100 if args.quick else 1000, "chain of 1,000 dependent tasks", ""),
        ("fanout", 100 if args.quick else 1000, "fan-out of 1,000", ""),
        (
            "cancel",
            100 if args.quick else 1000,
            "cancel a running 1,000-task tree",
            "target <= 100 ms",
        ),
    ]
    print(f"median [min..max] over {runs} run(s), durable SQLite file, one process per run")
    for name, size, label, target in workloads:
        results = measure(name, size, runs)
        line = f"{label:<38} wall {spread(results, 'seconds', '.3f')} s"
        if name != "cancel":
            line += (
                f"  tasks/s {spread(results, 'tasks_per_s', ',.0f')}"
                f"  events/s {spread(results, 'events_per_s', ',.0f')}"
            )
        line += f"  peak RSS {spread(results, 'peak_rss_mb', '.0f')} MB"
        print(line + (f"   ({target})" if target else ""))


if __name__ == "__main__":
    main()
