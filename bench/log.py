"""Event-log figures on a durable SQLite file: append rate, projection rebuild, time travel.

Run from the repository root:

    python bench/log.py            # full sizes, 5 runs of each measure
    python bench/log.py --quick    # small sizes, one run: a smoke test
    python bench/log.py --runs 9   # more runs

What it measures (each on a fresh SQLite file in a temporary directory, with the
session's own settings, printed in the header):

1. Append rate, batched: events per second when many events share one commit,
   (a) creating trees from arrays with ``TaskCreator.create_task_tree_from_array``
       (one event per task plus one per tree, one commit per tree), and
   (b) one ``TaskLog.run`` unit of work that starts and completes every task of a
       1,000-task tree (2,000 events in one commit);
   and, for context, single-event commits (sequential ``update_task_priority`` calls).
2. Projection rebuild: events per second of ``rebuild_projections`` over a log of
   >= 100,000 events (trees created, then started, progressed and completed), and under
   it the rate at which raw sqlite3 and msgpack only read and decode that log.
3. ``tree_at`` on a 10,101-task tree (root -> 100 -> 100) whose tasks were all started
   and completed in batches (about 30k events, with snapshots), at the newest position
   and in the middle of its stream; on the same tree, ``history`` of one task (3 events)
   and of the whole tree. Under ``tree_at`` and the tree's ``history``: how much of the
   time the cyclic GC took (collections set off by the answer's own new objects), and
   the floor: raw sqlite3 reading and msgpack decoding the same rows, with nothing
   folded or built.
4. Only with ``--only million`` (about a minute): a tree of 1,000 tasks whose log
   reaches 1,000,000 events (every task reports progress 1,000 times, a commit per
   round of 1,000 events): the append rate, ``tree_at`` at positions spread over the
   whole stream, and the process's peak memory after 10% and after 100% of the events
   (bounded by the tree, it should not grow with the log).

Every figure is the median over the runs with [min .. max]; targets are printed next to
them and never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskRepository,
    TaskStatus,
    create_session,
    history,
    log_position,
    rebuild_projections,
    tree_at,
)
from aipartnerupflow.events.store.codec import MsgpackTranscoder

CAUSE = {"request_id": "bench"}


@dataclass(frozen=True)
class Sizes:
    runs: int
    trees: int  # trees created per append run
    tree_size: int  # tasks per tree (append, rebuild) and per status batch (tree_at)
    single_commits: int
    rebuild_trees: int
    width: int  # the tree_at tree: root -> width -> width


FULL = Sizes(runs=5, trees=10, tree_size=1000, single_commits=300, rebuild_trees=25, width=100)
QUICK = Sizes(runs=1, trees=2, tree_size=100, single_commits=30, rebuild_trees=2, width=10)


@dataclass(frozen=True)
class Target:
    bound: float
    at_least: bool

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound

    def __str__(self) -> str:
        return f"target {'>=' if self.at_least else '<='} {self.bound:,g}"


APPEND_TARGET = Target(20_000, at_least=True)
REBUILD_TARGET = Target(150_000, at_least=True)
TREE_AT_TARGET = Target(50, at_least=False)
SINGLE_CHANGE_TARGET = Target(1, at_least=False)
TASK_HISTORY_TARGET = Target(5, at_least=False)
TREE_HISTORY_TARGET = Target(300, at_least=False)
MILLION_TREE_AT_TARGET = Target(200, at_least=False)


# ---------------------------------------------------------------------- helpers


async def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes, awaiting what it returns when it is awaitable."""
    started = time.perf_counter()
    result = fn()
    if inspect.isawaitable(result):
        await result
    return time.perf_counter() - started


class GcClock:
    """Seconds the cyclic GC ran, on any thread, since ``reset``: the share of a read's
    time that goes to collections its own new objects set off."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.seconds = 0.0


GC_CLOCK = GcClock()


async def timed_with_gc(fn: Callable[[], Any]) -> tuple[float, float]:
    """Milliseconds one call of ``fn`` takes, and how many of them the cyclic GC took."""
    GC_CLOCK.reset()
    seconds = await timed(fn)
    return seconds * 1000, GC_CLOCK.seconds * 1000


async def events_per_second(db: Database, fn: Callable[[], Any]) -> float:
    """Events ``fn`` appends to the log, per second of its run."""
    before = log_position(db)
    seconds = await timed(fn)
    return (log_position(db) - before) / seconds


@contextmanager
def fresh_database(name: str) -> Iterator[Database]:
    """A session on a new SQLite file, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="aipartnerupflow-bench-") as tmp:
        db = create_session(path=Path(tmp) / f"{name}.db")
        try:
            yield db
        finally:
            db.close()


def tree_array(prefix: str, fanouts: Sequence[int]) -> list[dict[str, Any]]:
    """A tree as ``create_task_tree_from_array`` takes it: a root with ``fanouts[0]``
    children, each with ``fanouts[1]`` children, and so on."""
    root = {"id": f"{prefix}-root", "name": "root", "inputs": {"n": 0}}
    tasks, level = [root], [root["id"]]
    for fanout in fanouts:
        children = [
            {"id": f"{parent}.{i}", "name": f"task {i}", "parent_id": parent, "inputs": {"n": i}}
            for parent in level
            for i in range(fanout)
        ]
        tasks.extend(children)
        level = [child["id"] for child in children]
    return tasks


def task_ids(array: list[dict[str, Any]]) -> list[str]:
    return [task["id"] for task in array]


async def plant(db: Database, array: list[dict[str, Any]]) -> Any:
    """Create the tree; returns its tree id."""
    root = await TaskCreator(db).create_task_tree_from_array(array)
    return root.task.tree_id


def record_statuses(db: Database, tree_id: Any, ids: Sequence[str], *, progress: bool) -> None:
    """Start, (report progress for,) and complete every task of ``ids`` in one commit."""

    def command(work: Any) -> None:
        tree = work.tree(tree_id)
        for task_id in ids:
            tree.set_status(task_id, TaskStatus.IN_PROGRESS, CAUSE)
            if progress:
                tree.set_status(task_id, TaskStatus.IN_PROGRESS, CAUSE, progress=0.5)
            tree.set_status(task_id, TaskStatus.COMPLETED, CAUSE, result={"ok": True})

    db.call(db.log.run, command)


def in_batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def report(label: str, values: Sequence[float], unit: str, target: Target | None = None) -> None:
    """One line: median [min .. max], and the target with whether the median meets it."""
    fmt = {"events/s": ",.0f", "ms": ",.2f"}.get(unit, ",.1f")
    median = statistics.median(values)
    spread = f"[{min(values):{fmt}} .. {max(values):{fmt}}]"
    line = f"{label:<56} {median:>10{fmt}} {unit:<8} {spread}"
    if target is not None:
        verdict = "met" if target.met(median) else "MISSED"
        line += f"   {target}: {median / target.bound:.2f}x of it, {verdict}"
    print(line, flush=True)


def storage_settings(db: Database) -> str:
    def read() -> str:
        with db.engine.connect() as connection:
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        level = ("OFF", "NORMAL", "FULL", "EXTRA")[synchronous]
        return f"journal_mode={journal}, synchronous={level}"

    return db.call(read)


# --------------------------------------------------------------------- measures


async def append_run(sizes: Sizes) -> tuple[float, float, float, float]:
    """Events/s: trees from arrays, one batch of status changes, single-event commits;
    and the median latency of those single-change calls, in ms."""
    with fresh_database("append") as db:
        arrays = [tree_array(f"t{k}", [sizes.tree_size - 1]) for k in range(sizes.trees)]
        tree_ids: list[Any] = []

        async def create_trees() -> None:
            for array in arrays:
                tree_ids.append(await plant(db, array))

        create = await events_per_second(db, create_trees)
        batch = await events_per_second(
            db, partial(record_statuses, db, tree_ids[0], task_ids(arrays[0]), progress=False)
        )
        repo = TaskRepository(db)
        latencies: list[float] = []

        async def single_commits() -> None:
            for task_id in task_ids(arrays[-1])[: sizes.single_commits]:
                latencies.append(await timed(partial(repo.update_task_priority, task_id, 0)))

        single = await events_per_second(db, single_commits)
    return create, batch, single, statistics.median(latencies) * 1000


async def append_rates(sizes: Sizes) -> None:
    runs = [await append_run(sizes) for _ in range(sizes.runs)]
    creates, batches, singles, latencies = zip(*runs, strict=True)
    report(
        f"append: {sizes.trees} trees x {sizes.tree_size:,} tasks from arrays",
        creates,
        "events/s",
        APPEND_TARGET,
    )
    report(
        f"append: {2 * sizes.tree_size:,} status changes in one commit",
        batches,
        "events/s",
        APPEND_TARGET,
    )
    report(f"  (context) {sizes.single_commits} single-event commits", singles, "events/s")
    report(
        "single-change API call (update_task_priority), median",
        latencies,
        "ms",
        SINGLE_CHANGE_TARGET,
    )


async def rebuild_rate(sizes: Sizes) -> None:
    with fresh_database("rebuild") as db:
        for k in range(sizes.rebuild_trees):
            array = tree_array(f"r{k}", [sizes.tree_size - 1])
            record_statuses(db, await plant(db, array), task_ids(array), progress=True)
        events = log_position(db)
        seconds = [await timed(partial(rebuild_projections, db)) for _ in range(sizes.runs)]
        floor = statistics.median(raw_read_ms(db) / 1000 for _ in range(sizes.runs))
    report(
        f"rebuild_projections over {events:,} events",
        [events / s for s in seconds],
        "events/s",
        REBUILD_TARGET,
    )
    # Any rebuild reads and decodes every event at least once.
    rate = events / floor
    print(
        f"  {'raw read + decode of the whole log (sqlite3, msgpack)':<54} {rate:>10,.0f} events/s"
        f"   {rate / REBUILD_TARGET.bound:.2f}x the target, before any fold or write",
        flush=True,
    )


def raw_read_ms(db: Database, tree_id: Any = None, version: int | None = None) -> float:
    """Milliseconds raw sqlite3 takes to read and msgpack-decode the rows a read needs,
    with nothing folded or built from them: the whole log (a rebuild), a whole stream
    (``history``), or, at ``version``, its nearest snapshot and the events after it
    (``tree_at``)."""
    decode = MsgpackTranscoder().decode
    connection = sqlite3.connect(f"file:{db.engine.url.database}?mode=ro", uri=True)
    try:
        started = time.perf_counter()
        if tree_id is None:
            for (state,) in connection.execute("SELECT state FROM event_log ORDER BY position"):
                decode(state)
            return (time.perf_counter() - started) * 1000
        stream = tree_id.hex  # how a UUID column is stored on SQLite
        after = 0
        if version is not None:
            snapshot = connection.execute(
                "SELECT version, state FROM event_snapshots WHERE tree_id = ? AND version <= ?"
                " ORDER BY version DESC LIMIT 1",
                (stream, version),
            ).fetchone()
            if snapshot is not None:
                after = snapshot[0]
                decode(snapshot[1])
        rows = connection.execute(
            "SELECT state FROM event_log WHERE tree_id = ? AND version > ? AND version <= ?"
            " ORDER BY version",
            (stream, after, version if version is not None else 2**62),
        )
        for (state,) in rows:
            decode(state)
        return (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def report_floor(label: str, values: Sequence[float], figure: Sequence[float]) -> None:
    median = statistics.median(values)
    print(
        f"  {label:<54} {median:>10,.2f} ms       the figure above is "
        f"{statistics.median(figure) / median:.1f}x of it",
        flush=True,
    )


def report_gc(gc_ms: Sequence[float], figure: Sequence[float]) -> None:
    median = statistics.median(gc_ms)
    print(
        f"  {'of which the cyclic GC':<54} {median:>10,.2f} ms       "
        f"{median / statistics.median(figure):.0%} of the figure above",
        flush=True,
    )


async def tree_at_times(sizes: Sizes) -> None:
    with fresh_database("tree_at") as db:
        array = tree_array("d", [sizes.width, sizes.width])
        tree_id = await plant(db, array)
        for batch in in_batches(task_ids(array), sizes.tree_size):
            record_statuses(db, tree_id, batch, progress=False)
        end = log_position(db)
        for where, position in (("newest", end), ("middle", end // 2)):
            runs = [
                await timed_with_gc(partial(tree_at, db, array[0]["id"], position=position))
                for _ in range(sizes.runs)
            ]
            times = [ms for ms, _ in runs]
            report(
                f"tree_at: {len(array):,} tasks, {where} position ({position:,}/{end:,})",
                times,
                "ms",
                TREE_AT_TARGET,
            )
            report_gc([gc_ms for _, gc_ms in runs], times)
            # The log holds this one tree, so a position is its stream's version.
            floor = [raw_read_ms(db, tree_id, position) for _ in range(sizes.runs)]
            report_floor("raw read + decode of those rows (sqlite3, msgpack)", floor, times)
        leaf = array[-1]["id"]
        for label, kwargs, target in (
            (f"history of one task ({leaf})", {"task_id": leaf}, TASK_HISTORY_TARGET),
            ("history of the whole tree", {"tree_id": tree_id}, TREE_HISTORY_TARGET),
        ):
            runs = [await timed_with_gc(partial(history, db, **kwargs)) for _ in range(sizes.runs)]
            count = len(history(db, **kwargs))
            times = [ms for ms, _ in runs]
            report(f"{label}: {count:,} events", times, "ms", target)
        report_gc([gc_ms for _, gc_ms in runs], times)
        floor = [raw_read_ms(db, tree_id) for _ in range(sizes.runs)]
        report_floor("raw read + decode of the stream (sqlite3, msgpack)", floor, times)


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def million_events(sizes: Sizes) -> None:
    """A 1,000-task tree whose log reaches a million events through progress reports."""
    tasks, rounds = (1000, 1000) if sizes.tree_size == FULL.tree_size else (100, 100)
    with fresh_database("million") as db:
        array = tree_array("m", [tasks - 1])
        tree_id = await plant(db, array)
        ids = task_ids(array)

        def report_progress(work: Any, share: float | None) -> None:
            tree = work.tree(tree_id)
            for task_id in ids:
                tree.set_status(task_id, TaskStatus.IN_PROGRESS, CAUSE, progress=share)

        started = time.perf_counter()
        db.call(db.log.run, partial(report_progress, share=None))  # every task starts
        tenth = 0.0
        for step in range(1, rounds + 1):
            db.call(db.log.run, partial(report_progress, share=step / (rounds + 1)))
            if step == rounds // 10:
                tenth = peak_mb()
        seconds = time.perf_counter() - started
        end = log_position(db)
        report(
            f"append: {end:,} events, {tasks:,} tasks x {rounds:,} progress reports",
            [end / seconds],
            "events/s",
        )
        spread = [end * k // 10 for k in range(1, 11)]
        times = []
        for position in spread:
            times.extend(
                [
                    await timed(partial(tree_at, db, ids[0], position=position))
                    for _ in range(sizes.runs)
                ]
            )
        report(
            f"tree_at anywhere in the {end:,}-event log ({len(spread)} positions)",
            [t * 1000 for t in times],
            "ms",
            MILLION_TREE_AT_TARGET,
        )
        print(
            f"peak memory: {tenth:,.0f} MB after 10% of the events, "
            f"{peak_mb():,.0f} MB after all of them",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--runs", type=int, help="runs of each measure (default: 5, quick: 1)")
    parser.add_argument(
        "--only",
        choices=("append", "rebuild", "tree_at", "million"),
        action="append",
        help="run only these measures (repeatable)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.runs:
        sizes = replace(sizes, runs=args.runs)

    with fresh_database("settings") as db:
        settings = storage_settings(db)
    print(
        f"aipartnerupflow event log on a SQLite file ({settings}); "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    print(f"median over {sizes.runs} run(s) [min .. max]\n", flush=True)
    measures = {"append": append_rates, "rebuild": rebuild_rate, "tree_at": tree_at_times}
    # The million-event log takes a minute: measured only when asked for by name.
    measures["million"] = million_events
    for name, measure in measures.items():
        if name in (args.only or [m for m in measures if m != "million"]):
            await measure(sizes)


if __name__ == "__main__":
    asyncio.run(main())
