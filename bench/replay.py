"""Replay-debugging figures on a durable SQLite file: fork, diff, timeline.

Run from the repository root:

    python bench/replay.py            # 1k and 10k-task trees, 5 runs of each measure
    python bench/replay.py --quick    # a 100-task tree, one run: a smoke test
    python bench/replay.py --runs 9

For each size, a tree (root -> fanout -> fanout) is created and every task started and
completed in batches of 1,000 (no executors: the events a run writes). Then, each figure
the median over the runs with [min .. max]:

1. ``fork`` at the middle position of the tree's stream (half of the tasks completed):
   reads the tree at that position and writes the fork (one event per task). Under it,
   the floor: the parts any fork must do, each alone (read the tree at that point,
   write its task rows with raw sqlite3, build the tree ``fork`` returns).
2. ``diff`` of the tree and a fork of it that was run to the end (every task matched by
   lineage, about half of them with a different attempt time).
3. ``timeline`` data and page for the tree.
4. With Debian's chromium installed, the page's own load time (``performance.now()``
   when the drawing is done) in headless Chromium, for the 1k tree.

Growth from 1k to 10k tasks is printed as the ratio of the medians (10 = linear). Each
figure also names the median time spent in Python's cyclic GC, which grows faster than
the work: its full passes walk every live object (cached trees included).
Targets are printed next to the figures and never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskStatus,
    create_session,
    diff,
    fork,
    history,
    timeline,
)
from aipartnerupflow.runtime.queries import TaskQueries
from aipartnerupflow.runtime.timeline import timeline_html

CAUSE = {"request_id": "bench"}
TARGETS = {("fork", 10_000): 0.300, ("diff", 10_000): 0.500}


def tree_array(prefix: str, fanout: int) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = [{"id": f"{prefix}root", "name": "root", "inputs": {"n": 0}}]
    for i in range(fanout):
        mid = f"{prefix}{i}"
        tasks.append({"id": mid, "name": f"mid{i}", "parent_id": tasks[0]["id"]})
        for j in range(fanout - 1):
            tasks.append(
                {
                    "id": f"{mid}-{j}",
                    "name": f"leaf{j}",
                    "parent_id": mid,
                    "inputs": {"n": j},
                    "dependencies": [mid] if j % 2 else [],
                }
            )
    return tasks


def complete(db: Database, root_id: str, ids: Sequence[str]) -> None:
    """Start and complete ``ids`` in batches, as a run's group commits would."""
    tree_id = db.call(TaskQueries(db).tree_id_of, root_id)
    for start in range(0, len(ids), 1000):
        batch = ids[start : start + 1000]

        def command(work: Any, batch: Sequence[str] = batch) -> None:
            tree = work.tree(tree_id)
            for task_id in batch:
                tree.set_status(task_id, TaskStatus.IN_PROGRESS, CAUSE)
            for task_id in batch:
                tree.set_status(task_id, TaskStatus.COMPLETED, CAUSE, result={"ok": task_id})

        db.call(db.log.run, command)


def run_order(array: list[dict[str, Any]]) -> list[str]:
    """Dependencies before dependents: mids first, then leaves, then the root."""
    mids = [t["id"] for t in array if t.get("parent_id") == array[0]["id"]]
    leaves = [t["id"] for t in array[1:] if t["id"] not in set(mids)]
    return [*mids, *leaves, array[0]["id"]]


def raw_row_writes(db: Database, tree_id: str, tmp: Path, runs: int) -> list[float]:
    """Seconds raw sqlite3 takes to insert a copy of the tree's task rows into a fresh
    file with the same table, indexes and durability (WAL, synchronous=FULL), in one
    commit: the projection rows a fork writes, with no Python in between."""
    source = sqlite3.connect(f"file:{db.engine.url.database}?mode=ro", uri=True)
    schema = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'tasks' AND sql IS NOT NULL"
        )
    ]
    rows = source.execute("SELECT * FROM tasks WHERE tree_id = ?", (UUID(tree_id).hex,)).fetchall()
    source.close()
    times = []
    for run in range(runs):
        target = sqlite3.connect(tmp / f"rows-{len(rows)}-{run}.db", isolation_level=None)
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA synchronous=FULL")
        for sql in schema:
            target.execute(sql)
        marks = ", ".join("?" * len(rows[0]))
        started = time.perf_counter()
        target.execute("BEGIN IMMEDIATE")
        target.executemany(f"INSERT INTO tasks VALUES ({marks})", rows)
        target.execute("COMMIT")
        times.append(time.perf_counter() - started)
        target.close()
    return times


class Timings(list[float]):
    """Wall times of runs, with the part of each spent in the cyclic GC."""

    def __init__(self) -> None:
        super().__init__()
        self.gc: list[float] = []


def median_of(fn: Callable[[], Any], runs: int) -> Timings:
    times = Timings()
    in_gc = [0.0, 0.0]  # total, start of the pass under way

    def clock(phase: str, _: dict[str, Any]) -> None:
        if phase == "start":
            in_gc[1] = time.perf_counter()
        else:
            in_gc[0] += time.perf_counter() - in_gc[1]

    gc.callbacks.append(clock)
    try:
        for _ in range(runs):
            in_gc[0] = 0.0
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
            times.gc.append(in_gc[0])
    finally:
        gc.callbacks.remove(clock)
    return times


def report(label: str, values: Sequence[float], target: float | None = None) -> float:
    med = statistics.median(values)
    spread = f"[{min(values) * 1000:.1f} .. {max(values) * 1000:.1f}]"
    line = f"  {label:<34} {med * 1000:9.1f} ms  {spread}"
    if isinstance(values, Timings):
        # The part of growth that is not the code's own: collections walk every live object.
        line += f"  (cyclic GC {statistics.median(values.gc) * 1000:.0f} ms)"
    if target is not None:
        line += f"  target <= {target * 1000:.0f} ms: {'met' if med <= target else 'NOT met'}"
    print(line)
    return med


def page_load_ms(page: Path) -> float | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'data-load-ms="([\d.]+)"', dom)
    return float(found.group(1)) if found else None


def measure(db: Database, tmp: Path, fanout: int, runs: int) -> dict[str, float]:
    prefix = f"f{fanout}-"
    array = tree_array(prefix, fanout)
    root = asyncio.run(TaskCreator(db).create_task_tree_from_array(array))
    root_id = root.task.id
    complete(db, root_id, run_order(array))
    entries = history(db, task_id=root_id)
    stream = history(db, tree_id=entries[0]["tree_id"])
    middle = stream[len(stream) // 2]["position"]
    size = len(array)
    print(f"tree of {size:,} tasks, {len(stream):,} events; fork at position {middle:,}")
    figures = {}
    forks: list[str] = []
    figures["fork"] = report(
        "fork at the middle",
        median_of(lambda: forks.append(fork(db, root_id, position=middle).task.id), runs),
        TARGETS.get(("fork", size)),
    )
    version = stream[len(stream) // 2]["version"]
    tree_id = stream[0]["tree_id"]
    print("  what any fork of it must do, at least (the floor of the figure above):")
    report(
        "  read the tree at that point",
        median_of(lambda: db.call(db.log.load_at, UUID(tree_id), version), runs),
    )
    report("  write its task rows (raw sqlite3)", raw_row_writes(db, tree_id, tmp, runs))
    queries = TaskQueries(db)
    fork_tree = db.call(queries.tree_id_of, forks[-1])
    report(
        "  build the tree it returns",
        median_of(lambda: db.call(lambda: queries.node(db.log.load(fork_tree), forks[-1])), runs),
    )
    # A fork run to the end: its kept tasks equal, the rest started again.
    done = fork(db, root_id, position=middle)
    ids = [n.task.id for n in done.walk() if n.task.status == TaskStatus.PENDING]
    complete(db, done.task.id, ids)
    figures["diff"] = report(
        "diff with a finished fork",
        median_of(lambda: diff(db, root_id, done.task.id), runs),
        TARGETS.get(("diff", size)),
    )
    figures["timeline"] = report("timeline data", median_of(lambda: timeline(db, root_id), runs))
    page = tmp / f"timeline-{size}.html"
    figures["page"] = report(
        "timeline page (HTML)",
        median_of(lambda: page.write_text(timeline_html(db, root_id)), runs),
    )
    loads = [page_load_ms(page) for _ in range(runs if size <= 2000 else 1)]
    if loads and loads[0] is not None:
        values = [v / 1000 for v in loads if v is not None]
        report(f"page load in Chromium ({page.stat().st_size // 1024} KiB)", values, 1.0)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    fanouts = [10] if options.quick else [32, 100]
    runs = 1 if options.quick else options.runs
    print(f"python {sys.version.split()[0]}, SQLite file, {runs} run(s) per figure")
    results = []
    with tempfile.TemporaryDirectory(prefix="aipartnerupflow-bench-") as tmp:
        for fanout in fanouts:
            db = create_session(path=Path(tmp) / f"replay-{fanout}.db")
            try:
                results.append(measure(db, Path(tmp), fanout, runs))
            finally:
                db.close()
    if len(results) == 2:
        print("growth from 1k to 10k tasks (ratio of medians; 10 = linear):")
        for name in results[0]:
            print(f"  {name:<10} x{results[1][name] / results[0][name]:.1f}")


if __name__ == "__main__":
    main()
