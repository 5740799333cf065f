"""Crash recovery for real: SIGKILL a process mid-run, then resume the tree from the log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aipartnerupflow import (
    BaseTask,
    TaskManager,
    TaskStatus,
    create_session,
    get_registry,
    history,
)

TASKS = 12

RUNNER = textwrap.dedent(
    """
    import asyncio, sys
    from aipartnerupflow import (
        BaseTask, TaskCreator, TaskManager, create_session, executor_register)

    @executor_register()
    class Slow(BaseTask):
        id = "slow_step"
        name = "slow step"
        description = "sleeps, then answers"

        async def execute(self, inputs):
            await asyncio.sleep(0.15)
            return {"done": True}

    async def main(path):
        db = create_session(path=path, lease_ttl=1.0)
        tasks = [{"id": "root", "name": "slow_step"}] + [
            {"id": f"step-{i}", "name": "slow_step", "parent_id": "root",
             "dependencies": [{"id": "root" if i == 0 else f"step-{i - 1}"}]}
            for i in range(__STEPS__)
        ]
        tree = await TaskCreator(db).create_task_tree_from_array(tasks)
        print("started", flush=True)
        await TaskManager(db).distribute_task_tree(tree)
        print("finished", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
).replace("__STEPS__", str(TASKS - 1))


class Slow(BaseTask):
    id = "slow_step"
    name = "slow step"
    description = "sleeps, then answers"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"done": True}


def _completed_count(path: Path) -> int:
    db = create_session(path=path)
    try:
        tasks = asyncio.run(_list(db))
        return sum(t.status == TaskStatus.COMPLETED for t in tasks)
    finally:
        db.close()


async def _list(db):
    from aipartnerupflow import TaskRepository

    return await TaskRepository(db).list_tasks(limit=1000)


def test_sigkill_mid_run_then_recover(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    process = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while _completed_count(path) < 4:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    done_before = _completed_count(path)
    assert done_before < TASKS

    asyncio.run(_recover_and_check(path))


async def _recover_and_check(path: Path) -> None:
    db = create_session(path=path)
    get_registry().register_executor(Slow)
    try:
        manager = TaskManager(db)
        # The dead owner's lease is still live: recovery leaves the tree alone until then.
        root = await manager.task_repository.get_task_by_id("root")
        if db.ownership.holder(root.tree_id) is not None:
            assert (await manager.recovery_plan()).resume == []
        while db.ownership.holder(root.tree_id) is not None:
            await asyncio.sleep(0.1)
        summaries = await manager.recover()
        assert [s["status"] for s in summaries] == [TaskStatus.COMPLETED]
        assert summaries[0]["root_task_id"] == "root"
        entries = history(db, tree_id=root.tree_id)
        completions = Counter(e["task_id"] for e in entries if e["type"] == "completed")
        assert len(completions) == TASKS
        assert set(completions.values()) == {1}, "a task was recorded complete twice"
        starts = Counter(e["task_id"] for e in entries if e["type"] == "started")
        # The task running at the kill started twice: once before it, once after.
        assert max(starts.values()) == 2
    finally:
        get_registry().unregister_executor("slow_step")
        db.close()
