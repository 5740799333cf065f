"""Several worker processes on one database: each tree has one owner at a time, a killed
worker's trees move to the others, and the log records every task exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
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

TREES = 30
STEPS = 4
LEASE_TTL = 1.5

# Executors of the "application": each execution appends one line to a side-effect file,
# so the test sees every execution, including those the log never recorded.
JOBS = textwrap.dedent(
    """
    import asyncio, json, os, time
    from aipartnerupflow import BaseTask, executor_register

    @executor_register()
    class Step(BaseTask):
        id = "step"
        name = "step"
        description = "works a little, leaving a trace of each execution"

        async def execute(self, inputs):
            started = time.time()
            await asyncio.sleep(0.05)
            with open(os.environ["EXECUTIONS"], "a") as trace:
                trace.write(json.dumps([os.getpid(), inputs["key"], started]) + "\\n")
            return {"key": inputs["key"]}
    """
)


async def _submit(url: str) -> list[str]:
    db = create_session(url)
    try:
        roots = []
        for n in range(TREES):
            tasks = [
                {"id": f"t{n}-0", "name": "step", "inputs": {"key": f"t{n}-0"}},
                *(
                    {
                        "id": f"t{n}-{i}",
                        "name": "step",
                        "parent_id": f"t{n}-0",
                        "inputs": {"key": f"t{n}-{i}"},
                        "dependencies": [{"id": f"t{n}-{i - 1}"}],
                    }
                    for i in range(1, STEPS)
                ),
            ]
            tree = await TaskCreator(db).create_task_tree_from_array(tasks)
            await TaskManager(db).submit(tree.task.id)
            roots.append(tree.task.id)
        return roots
    finally:
        db.close()


def _statuses(url: str, roots: list[str]) -> list[str]:
    async def read() -> list[str]:
        db = create_session(url)
        try:
            repo = TaskRepository(db)
            return [(await repo.get_task_by_id(root)).status for root in roots]
        finally:
            db.close()

    return asyncio.run(read())


def _start_worker(url: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "EXECUTIONS": str(tmp_path / "x.jsonl")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aipartnerupflow",
            "worker",
            "--db",
            url,
            "--import",
            "jobs",
            "--concurrency",
            "4",
            "--lease-ttl",
            str(LEASE_TTL),
            "--grace",
            "5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_three_workers_one_killed_every_tree_completes_once(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(JOBS)
    roots = asyncio.run(_submit(db_url))
    workers = [_start_worker(db_url, tmp_path) for _ in range(3)]
    executions = tmp_path / "x.jsonl"
    try:
        deadline = time.monotonic() + 120
        while not executions.exists() or len(executions.read_text().splitlines()) < 20:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.02)
        victim = workers[0]
        victim.kill()
        killed_at = time.time()
        victim.wait(timeout=30)
        every_task = [f"t{n}-{i}" for n in range(TREES) for i in range(STEPS)]
        # A root ends before its children (they depend on it): wait for every task.
        while not all(TaskStatus.is_terminal(s) for s in _statuses(db_url, every_task)):
            assert time.monotonic() < deadline, "trees of the killed worker never finished"
            time.sleep(0.2)
    finally:
        for process in workers[1:]:
            process.send_signal(signal.SIGTERM)
        for process in workers[1:]:
            process.wait(timeout=60)
    assert [w.returncode for w in workers[1:]] == [0, 0], [w.stderr.read() for w in workers]
    assert set(_statuses(db_url, every_task)) == {TaskStatus.COMPLETED}

    asyncio.run(_check_log(db_url, roots))
    # At-least-once execution, but never two executions of one task at once: a task run
    # by the killed worker ran again elsewhere only after the kill.
    runs: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for line in executions.read_text().splitlines():
        pid, key, started = json.loads(line)
        runs[key].append((pid, started))
    assert len(runs) == TREES * STEPS
    for key, attempts in runs.items():
        if len(attempts) > 1:
            assert {pid for pid, _ in attempts} != {victim.pid}, key
            assert all(started > killed_at for pid, started in attempts if pid != victim.pid), key


async def _check_log(url: str, roots: list[str]) -> None:
    db = create_session(url)
    try:
        repo = TaskRepository(db)
        before = sorted((t.id, t.status, t.attempt) for t in await repo.list_tasks(limit=10_000))
        for root in roots:
            task = await repo.get_task_by_id(root)
            entries = history(db, tree_id=task.tree_id)
            completions = Counter(e["task_id"] for e in entries if e["type"] == "completed")
            assert set(completions.values()) == {1}, f"a task of {root} completed twice"
            assert len(completions) == STEPS
        rebuild_projections(db)
        after = sorted((t.id, t.status, t.attempt) for t in await repo.list_tasks(limit=10_000))
        assert before == after
    finally:
        db.close()


PATIENT_JOBS = textwrap.dedent(
    """
    import asyncio, os
    from aipartnerupflow import BaseTask, executor_register

    @executor_register()
    class Patient(BaseTask):
        id = "patient"
        name = "patient"
        description = "slow in the first worker, quick in the next"

        async def execute(self, inputs):
            await asyncio.sleep(float(os.environ["SECONDS"]))
            return {"by": os.getpid()}
    """
)


def test_sigterm_hands_running_trees_back_at_once(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "patient.py").write_text(PATIENT_JOBS)

    async def submit() -> str:
        db = create_session(db_url)
        try:
            tree = await TaskCreator(db).create_task_tree_from_array(
                [{"id": "p", "name": "patient"}]
            )
            await TaskManager(db).submit("p")
            return str(tree.task.tree_id)
        finally:
            db.close()

    asyncio.run(submit())
    command = [sys.executable, "-m", "aipartnerupflow", "worker", "--db", db_url]
    command += ["--import", "patient", "--grace", "0.2", "--lease-ttl", "60"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    first = subprocess.Popen(command, env={**env, "SECONDS": "600"}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _statuses(db_url, ["p"]) != [TaskStatus.IN_PROGRESS]:
        assert time.monotonic() < deadline, "the first worker never started the task"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    # The lease is 60 s long, yet the next worker takes the tree at once: it was released.
    second = subprocess.Popen(command, env={**env, "SECONDS": "0"}, stderr=subprocess.PIPE)
    try:
        while _statuses(db_url, ["p"]) != [TaskStatus.COMPLETED]:
            assert time.monotonic() < deadline, "the released tree was not resumed"
            time.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    db = create_session(db_url)
    try:
        task = asyncio.run(TaskRepository(db).get_task_by_id("p"))
        assert task.result == {"by": second.pid}
        assert task.attempt == 2
    finally:
        db.close()
