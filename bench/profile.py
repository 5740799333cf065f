"""Where a tree's create + run spends its time, part by part.

    python bench/profile.py              # the 10,101-task tree of bench/engine.py
    python bench/profile.py --width 316  # the 100,173-task tree

The tree is created and run in this process on a durable SQLite file (as one run of
``bench/engine.py``), with clocks around the parts of the engine: the database thread's
units of work and, inside them, the projection, the encoding of events, the insert of
the log's rows, snapshots and the commits; the supervisor's handling of its messages; and
the cyclic GC on any thread. Each part is printed in seconds and as a share of the wall
time (parts run on three threads, so shares need not add up to 100%). Last, the CPU time
of the whole process and of its threads. The clocks cost a
little themselves: compare figures from one run of this script with each other, and take
speed figures from ``bench/engine.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from engine import tree_10k

from aipartnerupflow import TaskCreator, TaskManager, create_session
from aipartnerupflow.actors.supervisor import TreeSupervisor
from aipartnerupflow.events.store.log import TaskLog
from aipartnerupflow.events.store.mapper import LogMapper
from aipartnerupflow.events.store.recorder import EventRecorder

PARTS = Counter[str]()
CPU: dict[str, float] = {}
_inside = threading.local()


def clocked(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` adding its time to ``label`` (a call inside another of the same label is
    counted once, by the outer one)."""

    @wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        labels = _inside.__dict__.setdefault("labels", set())
        if label in labels:
            return fn(*args, **kwargs)
        labels.add(label)
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PARTS[label] += time.perf_counter() - started
            labels.discard(label)

    return timed


def clock(owner: Any, name: str, label: str) -> None:
    setattr(owner, name, clocked(label, getattr(owner, name)))


def clock_gc() -> None:
    started: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            PARTS["cyclic GC (any thread)"] += time.perf_counter() - started.pop()

    gc.callbacks.append(callback)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def create_and_run(width: int, folder: Path) -> tuple[float, float, int]:
    db = create_session(path=folder / "profile.db")
    cpu, db_cpu, loop_cpu = process_cpu(), db.call(time.thread_time), time.thread_time()
    try:
        clock(db.engine.dialect, "do_commit", "  commits (fsync)")
        for listener in list(db.log.listeners):
            if getattr(listener, "__name__", "") == "project":
                db.log.listeners[db.log.listeners.index(listener)] = clocked(
                    "  projection rows", listener
                )
        started = time.perf_counter()
        tree = await TaskCreator(db).create_task_tree_from_array(tree_10k(width))
        created = time.perf_counter() - started
        await TaskManager(db, max_concurrency=256).run_tree(tree.task.id)
        wall = time.perf_counter() - started
        CPU["all threads"] = process_cpu() - cpu
        CPU["database thread"] = db.call(time.thread_time) - db_cpu
        CPU["event loop (main thread)"] = time.thread_time() - loop_cpu
        return created, wall, len(tree_10k(width))
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=100, help="root -> width -> width tasks")
    args = parser.parse_args()
    clock(TaskLog, "run", "database thread: units of work")
    clock(TaskLog, "_save", "  saving what they changed")
    clock(LogMapper, "to_row", "  encoding events")
    clock(EventRecorder, "insert_rows", "  inserting the log's rows")
    clock(TaskLog, "_snapshot_if_due", "  snapshots")
    clock(TreeSupervisor, "on_receive", "supervisor: its messages")
    clock_gc()
    with tempfile.TemporaryDirectory(prefix="aipartnerupflow-bench-") as tmp:
        created, wall, tasks = asyncio.run(create_and_run(args.width, Path(tmp)))
    print(f"python {sys.version.split()[0]}; {tasks:,}-task tree on a durable SQLite file")
    print(f"{'wall time, create + run':<40} {wall:8.3f} s  (create {created:.3f} s)")
    order = [
        "database thread: units of work",
        "  saving what they changed",
        "  projection rows",
        "  encoding events",
        "  inserting the log's rows",
        "  snapshots",
        "  commits (fsync)",
        "supervisor: its messages",
        "cyclic GC (any thread)",
    ]
    for label in order:
        print(f"{label:<40} {PARTS[label]:8.3f} s  {PARTS[label] / wall:6.1%} of the wall time")
    # Python code runs on one core at a time: when CPU time is close to the wall time,
    # only less work shortens the run.
    total = CPU["all threads"]
    print(f"{'CPU time, all threads':<40} {total:8.3f} s  {total / wall:6.1%} of the wall time")
    for label in ("database thread", "event loop (main thread)"):
        print(f"{'  ' + label:<40} {CPU[label]:8.3f} s")
    rest = total - CPU["database thread"] - CPU["event loop (main thread)"]
    print(f"{'  the others (supervisor, leases)':<40} {rest:8.3f} s")


if __name__ == "__main__":
    main()
