"""Worker processes sharing one PostgreSQL database: throughput and takeover time.

Run from the repository root with a PostgreSQL server (an empty database is created):

    python bench/workers.py --url postgresql://postgres@127.0.0.1:54329/postgres
    python bench/workers.py --url ... --quick      # small sizes, one run

1. Throughput: ``--trees`` trees of 100 tasks (a root with 99 independent children whose
   executor returns at once) are submitted, then 1, 2 and 4 ``aipartnerupflow worker``
   processes run them; trees per second and tasks per second from the first worker's
   start to the last tree's end, median over ``--runs``.
2. Takeover: two workers with a lease time of ``--ttl`` seconds share trees of slow tasks;
   one is SIGKILLed, and the time until every tree it held is held by the other worker is
   reported next to the lease time (target: at most twice the lease time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text

from aipartnerupflow import TaskCreator, TaskManager, TaskStatus, create_session
from aipartnerupflow.events.store.leases import leases_table
from aipartnerupflow.events.store.urls import resolve_url
from aipartnerupflow.projections.models import TaskModel

JOBS = textwrap.dedent(
    """
    import asyncio
    from aipartnerupflow import BaseTask, executor_register

    @executor_register()
    class Quick(BaseTask):
        id = "quick"
        name = "quick"
        description = "returns at once"

        async def execute(self, inputs):
            return {}

    @executor_register()
    class Slow(BaseTask):
        id = "slow"
        name = "slow"
        description = "takes a while"

        async def execute(self, inputs):
            await asyncio.sleep(30)
            return {}
    """
)


def fresh_database(admin_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(resolve_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return resolve_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def submit(url: str, trees: int, size: int, executor: str) -> None:
    db = create_session(url)
    try:
        for n in range(trees):
            root = f"r{n}-{uuid.uuid4().hex[:6]}"
            tasks = [{"id": root, "name": executor}] + [
                {"id": f"{root}-{i}", "name": executor, "parent_id": root} for i in range(size - 1)
            ]
            await TaskCreator(db).create_task_tree_from_array(tasks)
            await TaskManager(db).submit(root)
    finally:
        db.close()


def start_workers(url: str, count: int, folder: Path, ttl: float) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(folder)}
    command = [sys.executable, "-m", "aipartnerupflow", "worker", "--db", url, "--import", "jobs"]
    command += ["--concurrency", "4", "--lease-ttl", str(ttl), "--grace", "1"]
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=60)


def unfinished(url: str) -> int:
    engine = create_engine(resolve_url(url))
    tasks = TaskModel.__table__
    with engine.connect() as connection:
        count = connection.execute(
            select(tasks.c.id).where(tasks.c.status.in_(TaskStatus.ACTIVE))
        ).all()
    engine.dispose()
    return len(count)


def throughput(admin_url: str, folder: Path, workers: int, trees: int) -> float:
    url = fresh_database(admin_url)
    asyncio.run(submit(url, trees, 100, "quick"))
    started = time.perf_counter()
    running = start_workers(url, workers, folder, ttl=10.0)
    try:
        while unfinished(url):
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        stop(running)


def holders(url: str) -> dict[str, str]:
    engine = create_engine(resolve_url(url))
    c = leases_table.c
    with engine.connect() as connection:
        rows = connection.execute(select(c.tree_id, c.owner).where(c.owner.is_not(None))).all()
    engine.dispose()
    return {str(tree_id): owner for tree_id, owner in rows}


def takeover(admin_url: str, folder: Path, ttl: float) -> float:
    url = fresh_database(admin_url)
    # Fewer trees than one worker's slots: the survivor always has room for the victim's.
    asyncio.run(submit(url, 4, 2, "slow"))
    victim, survivor = start_workers(url, 2, folder, ttl)
    try:
        while True:
            held = holders(url)
            mine = [t for t, owner in held.items() if f":{victim.pid}:" in owner]
            if mine and len(held) == 4:
                break
            time.sleep(0.05)
        victim.kill()
        killed = time.perf_counter()
        while True:
            held = holders(url)
            if all(f":{survivor.pid}:" in held.get(t, "") for t in mine):
                return time.perf_counter() - killed
            time.sleep(0.05)
    finally:
        stop([survivor, victim])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL server's admin URL")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trees", type=int, default=40)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, trees = (1, 8) if args.quick else (args.runs, args.trees)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "jobs.py").write_text(JOBS)
        print(f"{trees} trees of 100 tasks, median of {runs} run(s)")
        for workers in (1, 2, 4):
            seconds = statistics.median(
                throughput(args.url, Path(folder), workers, trees) for _ in range(runs)
            )
            print(
                f"  {workers} worker(s): {trees / seconds:6.2f} trees/s "
                f"({trees * 100 / seconds:7.0f} tasks/s, {seconds:.2f} s)"
            )
        times = [takeover(args.url, Path(folder), args.ttl) for _ in range(runs)]
        print(
            f"takeover after SIGKILL: median {statistics.median(times):.2f} s "
            f"[{min(times):.2f} .. {max(times):.2f}] with a {args.ttl:.1f} s lease "
            f"(target <= {2 * args.ttl:.1f} s)"
        )


if __name__ == "__main__":
    main()
