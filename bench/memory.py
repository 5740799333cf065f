"""Memory over a long run: RSS after each round of small trees in one process.

    python bench/memory.py                      # 10 rounds of 1,000 trees (2-5 tasks each)
    python bench/memory.py --rounds 5 --trees 500
    python bench/memory.py --top 10             # also the 10 largest allocation growths
    python bench/memory.py --rounds 8 --trees 2 --size 10000   # large trees instead

A warm-up round runs first; then each round creates and runs ``--trees`` trees on one
SQLite file through ``TaskExecutor.execute_tasks`` and prints the process's RSS. Memory
is bounded when RSS levels off: the last figure stays close to the first ones. With
``--size``, each tree is a root with ``size - 1`` children instead: large trees, which
the log's tree cache must not keep by the hundred.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from aipartnerupflow import BaseTask, TaskExecutor, create_session, executor_register


@executor_register()
class Echo(BaseTask):
    id = "echo"
    name = "echo"
    description = "returns its inputs"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"echo": inputs}


def small_tree(index: int, size: int | None = None) -> list[dict[str, Any]]:
    """A root with ``size - 1`` children (by default 1-4), each carrying a few hundred
    bytes of inputs."""
    size = 2 + index % 4 if size is None else size
    root = {"id": f"r{index}", "name": "echo", "inputs": {"n": index, "text": "x" * 200}}
    children = [
        {"id": f"r{index}-{i}", "name": "echo", "parent_id": f"r{index}", "inputs": {"i": i}}
        for i in range(1, size)
    ]
    return [root, *children]


def rss_mb() -> float:
    """The resident set size now (not the peak), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def run(rounds: int, trees: int, size: int | None, top: int, path: Path) -> None:
    db = create_session(path=path)
    executor = TaskExecutor()
    done = 0

    async def one_round() -> float:
        nonlocal done
        started = time.perf_counter()
        for _ in range(trees):
            summary = await executor.execute_tasks(small_tree(done, size), db=db)
            assert summary["status"] == "completed", summary
            done += 1
        return time.perf_counter() - started

    await one_round()  # warm-up: imports, caches, connection pool
    gc.collect()
    warm = rss_mb()
    print(f"warm-up: {trees} trees, RSS {warm:.1f} MB")
    if top:
        tracemalloc.start(10)
        before = tracemalloc.take_snapshot()
    for number in range(1, rounds + 1):
        seconds = await one_round()
        gc.collect()
        now = rss_mb()
        print(
            f"round {number:>2}: {done:>6} trees, RSS {now:7.1f} MB "
            f"({now - warm:+6.1f} MB since warm-up), {trees / seconds:6.1f} trees/s"
        )
    if top:
        growth = tracemalloc.take_snapshot().compare_to(before, "traceback")
        for stat in growth[:top]:
            print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} objects")
            print("    " + "\n    ".join(stat.traceback.format(limit=4)))
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--trees", type=int, default=1000)
    parser.add_argument("--size", type=int, default=None, help="tasks per tree")
    parser.add_argument("--top", type=int, default=0, help="print the largest growths")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.rounds, args.trees, args.size, args.top, Path(tmp) / "memory.db"))


if __name__ == "__main__":
    main()
