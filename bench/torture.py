"""SIGKILL torture: workers killed over and over while they run trees, then the invariants.

Run from the repository root (SQLite file by default, or any URL):

    python bench/torture.py --kills 100
    python bench/torture.py --url postgresql://postgres@127.0.0.1:54329/postgres --kills 100

Three workers share one database holding ``--trees`` trees of chained and parallel tasks.
Every few hundred milliseconds one worker is SIGKILLed (some kills land mid-commit) and a
new one started. At the end every tree must be finished, no task may have two completion
events, every execution (each leaves a line in a side-effect file) must have a start
event in the log, and the projections must equal a rebuild from the log. The figures:
kills, executions, tasks, re-executions, and the invariants' verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

from aipartnerupflow import (
    TaskCreator,
    TaskManager,
    TaskRepository,
    TaskStatus,
    create_session,
    history,
    rebuild_projections,
)

JOBS = textwrap.dedent(
    """
    import asyncio, json, os, random, time
    from aipartnerupflow import BaseTask, executor_register

    @executor_register()
    class Work(BaseTask):
        id = "work"
        name = "work"
        description = "a short piece of work that leaves a trace"

        async def execute(self, inputs):
            with open(os.environ["EXECUTIONS"], "a") as trace:
                trace.write(json.dumps([inputs["key"], time.time()]) + "\\n")
            await asyncio.sleep(random.uniform(0.0, 0.05))
            return {"key": inputs["key"]}
    """
)


async def create(url: str, trees: int, size: int) -> list[str]:
    db = create_session(url)
    try:
        roots = []
        for n in range(trees):
            tasks = [{"id": f"t{n}", "name": "work", "inputs": {"key": f"t{n}"}}]
            for i in range(1, size):
                dependency = [{"id": f"t{n}-{i - 1}"}] if i > 1 and i % 2 else []
                tasks.append(
                    {
                        "id": f"t{n}-{i}",
                        "name": "work",
                        "parent_id": f"t{n}",
                        "inputs": {"key": f"t{n}-{i}"},
                        "dependencies": dependency,
                    }
                )
            await TaskCreator(db).create_task_tree_from_array(tasks)
            await TaskManager(db).submit(f"t{n}")
            roots.append(f"t{n}")
        return roots
    finally:
        db.close()


def worker(url: str, folder: Path, ttl: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(folder), "EXECUTIONS": str(folder / "x.jsonl")}
    command = [sys.executable, "-m", "aipartnerupflow", "worker", "--db", url]
    command += ["--import", "jobs", "--lease-ttl", str(ttl), "--concurrency", "4"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def verdicts(url: str, roots: list[str], executions: list[str]) -> dict[str, object]:
    db = create_session(url)
    try:
        repo = TaskRepository(db)
        tasks = await repo.list_tasks(limit=1_000_000)
        unfinished = [t.id for t in tasks if not TaskStatus.is_terminal(t.status)]
        twice, started = [], set()
        for root in roots:
            task = await repo.get_task_by_id(root)
            entries = history(db, tree_id=task.tree_id)
            completions = Counter(e["task_id"] for e in entries if e["type"] == "completed")
            twice += [t for t, n in completions.items() if n > 1]
            started |= {e["task_id"] for e in entries if e["type"] == "started"}
        unrecorded = sorted(set(executions) - started)
        before = sorted((t.id, t.status, t.attempt, repr(t.result)) for t in tasks)
        rebuild_projections(db)
        rebuilt = await repo.list_tasks(limit=1_000_000)
        after = sorted((t.id, t.status, t.attempt, repr(t.result)) for t in rebuilt)
        return {
            "tasks": len(tasks),
            "unfinished": len(unfinished),
            "completed twice": len(twice),
            "executions without a start event": len(unrecorded),
            "projections equal a rebuild": before == after,
        }
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: an SQLite file)")
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--trees", type=int, default=60)
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--ttl", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "jobs.py").write_text(JOBS)
        url = args.url or f"sqlite:///{folder / 'torture.db'}"
        roots = asyncio.run(create(url, args.trees, args.size))
        workers = [worker(url, folder, args.ttl) for _ in range(3)]
        started = time.perf_counter()
        for _ in range(args.kills):
            time.sleep(rng.uniform(0.05, 0.4))
            victim = workers.pop(rng.randrange(len(workers)))
            victim.kill()
            victim.wait()
            workers.append(worker(url, folder, args.ttl))
        trace = folder / "x.jsonl"
        while True:  # let the survivors finish everything
            db = create_session(url)
            try:
                tasks = asyncio.run(TaskRepository(db).list_tasks(limit=1_000_000))
            finally:
                db.close()
            if all(TaskStatus.is_terminal(t.status) for t in tasks):
                break
            time.sleep(0.2)
        for process in workers:
            process.terminate()
            process.wait()
        lines = trace.read_text().splitlines() if trace.exists() else []
        executions = [json.loads(line)[0] for line in lines]
        result = asyncio.run(verdicts(url, roots, executions))
        seconds = time.perf_counter() - started
        again = len(executions) - len(set(executions))
        print(f"{args.kills} SIGKILLs over {seconds:.1f} s on {url.split(':')[0]}")
        print(f"executions: {len(executions)}, re-executions: {again}")
        for name, value in result.items():
            print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
