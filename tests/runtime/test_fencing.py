"""Fencing: an owner paused past its lease (SIGSTOP) finds, once resumed (SIGCONT), that
another process took its tree over; nothing it does after that reaches the log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from aipartnerupflow import BaseTask, TaskManager, TaskStatus, create_session, get_registry
from aipartnerupflow import history as read_history

STEPS = 8
LEASE_TTL = 1.0

OWNER = (
    textwrap.dedent(
        """
    import asyncio, sys
    from aipartnerupflow import (
        BaseTask, LeaseLostError, TaskCreator, TaskManager, create_session, executor_register)

    @executor_register()
    class Tick(BaseTask):
        id = "tick"
        name = "tick"
        description = "takes a moment"

        async def execute(self, inputs):
            await asyncio.sleep(0.3)
            return {"tick": inputs.get("n")}

    async def main(url):
        db = create_session(url, lease_ttl=__TTL__)
        tasks = [{"id": "t0", "name": "tick", "inputs": {"n": 0}}] + [
            {"id": f"t{i}", "name": "tick", "parent_id": "t0", "inputs": {"n": i},
             "dependencies": [{"id": f"t{i - 1}"}]}
            for i in range(1, __STEPS__)
        ]
        tree = await TaskCreator(db).create_task_tree_from_array(tasks)
        print(tree.task.tree_id, flush=True)
        try:
            await TaskManager(db).run_tree("t0")
        except LeaseLostError as exc:
            print("lease lost:", exc, flush=True)
            sys.exit(3)
        print("finished", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
    )
    .replace("__TTL__", str(LEASE_TTL))
    .replace("__STEPS__", str(STEPS))
)


class Tick(BaseTask):
    id = "tick"
    name = "tick"
    description = "takes no time here"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"tick": inputs.get("n")}


def _completed(url: str, tree_id: str) -> int:
    db = create_session(url)
    try:
        return sum(e["type"] == "completed" for e in read_history(db, tree_id=tree_id))
    finally:
        db.close()


def test_a_paused_owner_cannot_write_after_a_takeover(db_url: str, tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen(
        [sys.executable, str(script), db_url], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    try:
        tree_id = owner.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while _completed(db_url, tree_id) < 2:
            assert time.monotonic() < deadline, "the owner made no progress"
            time.sleep(0.02)
        os.kill(owner.pid, signal.SIGSTOP)
        log_after_takeover = asyncio.run(_take_over(db_url, tree_id))
        os.kill(owner.pid, signal.SIGCONT)
        out, _ = owner.communicate(timeout=60)
    finally:
        if owner.poll() is None:
            os.kill(owner.pid, signal.SIGCONT)
            owner.kill()
    assert owner.returncode == 3, out
    assert out.startswith("lease lost")
    db = create_session(db_url)
    try:
        assert read_history(db, tree_id=tree_id) == log_after_takeover
    finally:
        db.close()


async def _take_over(url: str, tree_id: str) -> list[dict[str, Any]]:
    """Wait for the paused owner's lease to expire, resume the tree here to the end, and
    return the log as it stands then."""
    db = create_session(url)
    get_registry().register_executor(Tick)
    try:
        while db.ownership.holder(UUID(tree_id)) is not None:
            await asyncio.sleep(0.05)
        summaries = await TaskManager(db).recover()
        assert [s["status"] for s in summaries] == [TaskStatus.COMPLETED]
        return read_history(db, tree_id=tree_id)
    finally:
        get_registry().unregister_executor("tick")
        db.close()
