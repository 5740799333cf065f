"""Engine figures: run whole trees on a durable SQLite file and print what it cost.

    python bench/engine.py            # every workload, 3 runs each
    python bench/engine.py --runs 5
    python bench/engine.py --quick    # small sizes, one run (a smoke test)
    python bench/engine.py --postgres postgresql://postgres@127.0.0.1:54329/postgres

Each run is a fresh subprocess with a fresh database, so peak RSS belongs to that
workload alone. Figures are medians over the runs (min and max in brackets).
Workloads: a 10k-task tree (root -> 100 -> 100), created then run, a chain of 1,000
dependent tasks, a fan-out of 1,000 siblings (trivial executors), the time for a
cancel of a running 1,000-task tree to be recorded for every task, and how long reads
of one task take (one every 10 ms) while the 10k tree runs. With ``--postgres URL``
(or AIPARTNERUPFLOW_BENCH_POSTGRES_URL) the tree and a chain of 200 run on that server
too, each against 1.5x its SQLite figure.

Under the tree, two floors: raw sqlite3 writing as many rows into bare tables, and raw
sqlite3 writing the run's rows into the library's own tables (their 23 task columns and
indexes), in as many commits as a run makes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from aipartnerupflow import (
    BaseTask,
    TaskCreator,
    TaskManager,
    TaskRepository,
    TaskStatus,
    create_session,
    executor_register,
    log_position,
)
from aipartnerupflow.events.store.urls import resolve_url


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


async def run_workload(name: str, size: int, url: str) -> dict[str, Any]:
    db = create_session(url)
    shapes = {"tree": tree_10k, "chain": chain, "fanout": fan_out}
    if name == "cancel":
        return await cancel_workload(db, size)
    if name == "reads":
        return await reads_workload(db, size)
    array = shapes[name](size)
    creating = time.perf_counter()
    tree = await TaskCreator(db).create_task_tree_from_array(array)
    created = time.perf_counter() - creating
    before = log_position(db)
    started = time.perf_counter()
    summary = await TaskManager(db, max_concurrency=256).run_tree(tree.task.id)
    elapsed = time.perf_counter() - started
    assert summary["status"] == TaskStatus.COMPLETED, summary
    tasks = summary["task_count"]
    events = log_position(db) - before
    db.close()
    return {
        "create_seconds": created,
        "total_seconds": created + elapsed,
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


async def reads_workload(db: Any, width: int) -> dict[str, Any]:
    """Milliseconds a read of one task takes, every 10 ms, while the 10k tree runs."""
    tree = await TaskCreator(db).create_task_tree_from_array(tree_10k(width))
    await TaskCreator(db).create_task_tree_from_array([{"id": "other", "name": "noop"}])
    repo = TaskRepository(db)
    run = asyncio.create_task(TaskManager(db, max_concurrency=256).run_tree(tree.task.id))
    reads: list[float] = []
    while not run.done():
        started = time.perf_counter()
        await repo.get_task_by_id("other")
        reads.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    assert (await run)["status"] == TaskStatus.COMPLETED
    db.close()
    reads.sort()
    return {"p50_ms": reads[len(reads) // 2], "p99_ms": reads[len(reads) * 99 // 100]}


def child_main(name: str, size: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        figures = asyncio.run(run_workload(name, size, url))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


@contextmanager
def fresh_postgres(server: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server ``server``; dropped afterwards."""
    name = f"flow_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(resolve_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield resolve_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_child(name: str, size: int, url: str | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", name, "--size", str(size)]
    out = subprocess.run(
        [*command, *(["--url", url] if url else [])],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(name: str, size: int, runs: int, postgres: str | None = None) -> list[dict[str, Any]]:
    results = []
    for _ in range(runs):
        if postgres is None:
            results.append(run_child(name, size, None))
            continue
        with fresh_postgres(postgres) as url:
            results.append(run_child(name, size, url))
    return results


def spread(results: list[dict[str, Any]], key: str, fmt: str) -> str:
    values = [r[key] for r in results]
    med = statistics.median(values)
    return f"{med:{fmt}} [{min(values):{fmt}}..{max(values):{fmt}}]"


def raw_floor(events: int, tasks: int, batch: int = 1000) -> float:
    """Seconds raw sqlite3 takes to write what a tree's run writes, with the same
    durability (WAL, synchronous=FULL): ``events`` event rows of ~150 bytes, then each of
    ``tasks`` task rows inserted once and updated twice, ``batch`` events per commit."""
    with tempfile.TemporaryDirectory() as tmp:
        connection = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, tree_id TEXT, version INT,"
            " task_id TEXT, timestamp TEXT, topic TEXT, state BLOB)"
        )
        connection.execute(
            "CREATE TABLE tasks (id TEXT PRIMARY KEY, status TEXT, updated_at TEXT, row BLOB)"
        )
        started = time.perf_counter()
        state, now = b"x" * 150, "2025-01-01 00:00:00.000000"
        for first in range(0, events, batch):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO events VALUES (?, 'tree', ?, ?, ?, 'topic', ?)",
                [(p + 1, p + 1, f"t{p % tasks}", now, state) for p in range(first, first + batch)],
            )
            connection.execute("COMMIT")
        for status in ("new", "in_progress", "completed"):
            connection.execute("BEGIN IMMEDIATE")
            if status == "new":
                rows = [(f"t{i}", status, now, state) for i in range(tasks)]
                connection.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?)", rows)
            else:
                rows = [(status, now, f"t{i}") for i in range(tasks)]
                connection.executemany(
                    "UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?", rows
                )
            connection.execute("COMMIT")
        seconds = time.perf_counter() - started
        connection.close()
    return seconds


def schema_floor(tasks: int, batch: int = 500) -> float:
    """Seconds raw sqlite3 takes to write a tree's rows into the library's own tables,
    with their columns and indexes and the same durability: every task row inserted
    (with one event each, in one commit), then started and completed (one event and one
    update of the nine outcome columns each), ``batch`` tasks per commit as a run does."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "floor.db"
        create_session(path=path).close()  # the tables, as the library makes them
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        tree, now, state = uuid.uuid4().hex, "2025-01-01 00:00:00.000000", b"x" * 150
        ids = [f"task-{i}" for i in range(tasks)]
        position = 0

        def log(rows: list[tuple[str, str]]) -> None:
            nonlocal position
            connection.executemany(
                "INSERT INTO event_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (position + n, tree, position + n, task, now, topic, state)
                    for n, (task, topic) in enumerate(rows, start=1)
                ],
            )
            position += len(rows)

        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        log([(task, "aipartnerupflow:TaskTree.TaskCreated") for task in ids])
        connection.executemany(
            "INSERT INTO tasks VALUES"
            " (?, ?, ?, NULL, 'noop', 'pending', 1, '[]', ?, '{}', NULL, NULL, NULL, '{}',"
            " 0.0, 0, ?, NULL, ?, NULL, NULL, 0, 0)",
            [
                (task, tree, ids[0] if i else None, f'{{"n": {i}}}', now, now)
                for i, task in enumerate(ids)
            ],
        )
        connection.execute("COMMIT")
        for status, result in (("in_progress", None), ("completed", '{"ok": true}')):
            for first in range(0, tasks, batch):
                part = ids[first : first + batch]
                connection.execute("BEGIN IMMEDIATE")
                log([(task, "aipartnerupflow:TaskTree.TaskStatusChanged") for task in part])
                connection.executemany(
                    "UPDATE tasks SET status = ?, result = ?, error = NULL, error_type = NULL,"
                    " progress = 1.0, started_at = ?, completed_at = ?, updated_at = ?,"
                    " attempt = 1 WHERE id = ?",
                    [(status, result, now, now, now, task) for task in part],
                )
                connection.execute("COMMIT")
        seconds = time.perf_counter() - started
        connection.close()
    return seconds


def line(label: str, results: list[dict[str, Any]], key: str, target: float | None) -> float:
    """Print one figure: median [min..max], its ratio to ``target``; returns the median."""
    median = statistics.median(r[key] for r in results)
    text_ = f"{label:<44} {spread(results, key, '.3f')} s"
    if key == "total_seconds":
        text_ += f"  (create {spread(results, 'create_seconds', '.3f')})"
    text_ += f"  peak RSS {spread(results, 'peak_rss_mb', '.0f')} MB"
    if target is not None:
        verdict = "met" if median <= target else "MISSED"
        text_ += f"   target <= {target:.3g} s: {median / target:.2f}x of it, {verdict}"
    print(text_, flush=True)
    return median


def scaling(runs: int, widths: tuple[int, ...]) -> None:
    """Create + run of root -> w -> w trees: seconds and microseconds per task, which a
    linear engine keeps flat from the smallest tree to the largest."""
    print(f"scaling: median [min..max] over {runs} run(s), durable SQLite file")
    per_task = []
    for width in widths:
        results = measure("tree", width, runs)
        tasks = len(tree_10k(width))
        label = f"{tasks:,}-task tree, create + run"
        median = line(label, results, "total_seconds", None)
        per_task.append(median / tasks)
        print(f"{'':<44} {median / tasks * 1e6:.0f} us per task")
    growth = per_task[-1] / per_task[0]
    print(f"cost per task, largest / smallest tree: {growth:.2f}x (target <= 1.15x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("AIPARTNERUPFLOW_BENCH_POSTGRES_URL"),
        help="also run the tree and a chain of 200 on this PostgreSQL server "
        "(a fresh database per run)",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="only the scaling line: trees of ~1k, 10k and 100k tasks, cost per task",
    )
    parser.add_argument("--child")
    parser.add_argument("--size", type=int)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.size, args.url)
        return
    runs = 1 if args.quick else args.runs
    if args.scaling:
        scaling(runs, (10, 31) if args.quick else (31, 100, 316))
        return
    width, many, chain_pg = (10, 100, 20) if args.quick else (100, 1000, 200)
    print(f"median [min..max] over {runs} run(s), one process per run; durable SQLite file")
    tree = measure("tree", width, runs)
    sqlite_tree = line(
        f"{len(tree_10k(width)):,}-task tree, create + run", tree, "total_seconds", 1.5
    )
    events = statistics.median(r["events"] + r["tasks"] + 1 for r in tree)
    floors = [raw_floor(int(events), len(tree_10k(width))) for _ in range(runs)]
    floor = statistics.median(floors)
    floor_spread = f"{floor:.3f} [{min(floors):.3f}..{max(floors):.3f}]"
    print(
        f"{'  raw sqlite3 floor, same rows':<44} {floor_spread} s"
        f"   the tree takes {sqlite_tree / floor:.1f}x the floor (target <= 3.5x)",
        flush=True,
    )
    schema = statistics.median(schema_floor(len(tree_10k(width))) for _ in range(runs))
    print(
        f"{'  raw sqlite3, same rows in its own tables':<44} {schema:.3f} s"
        f"   the tree takes {sqlite_tree / schema:.1f}x this",
        flush=True,
    )
    line(f"chain of {many:,}", measure("chain", many, runs), "seconds", 0.5)
    line(f"fan-out of {many:,}", measure("fanout", many, runs), "seconds", None)
    line(f"cancel reaching {many:,} running tasks", measure("cancel", many, runs), "seconds", 0.05)
    reads = measure("reads", width, runs)
    print(
        f"{'one-task reads while the tree runs (ms)':<44} p50 {spread(reads, 'p50_ms', '.2f')}"
        f"  p99 {spread(reads, 'p99_ms', '.2f')}",
        flush=True,
    )
    if args.postgres is None:
        return
    sqlite_chain = line(
        f"chain of {chain_pg} (SQLite)", measure("chain", chain_pg, runs), "seconds", None
    )
    print("PostgreSQL (targets: 1.5x the SQLite figures above)")
    line(
        f"{len(tree_10k(width)):,}-task tree, create + run",
        measure("tree", width, runs, args.postgres),
        "total_seconds",
        1.5 * sqlite_tree,
    )
    line(
        f"chain of {chain_pg}",
        measure("chain", chain_pg, runs, args.postgres),
        "seconds",
        1.5 * sqlite_chain,
    )


if __name__ == "__main__":
    main()
