"""Ctrl-C during ``run``: one line, exit 130, nothing more recorded, and ``recover`` (with
the application's executors loaded by ``--import``) finishes the tree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from support.data import status_in

from aipartnerupflow import TaskStatus

JOBS = textwrap.dedent(
    """
    import asyncio, os
    from aipartnerupflow import BaseTask, executor_register

    @executor_register()
    class Slow(BaseTask):
        id = "slow_cli"
        name = "slow_cli"
        description = "slow until told otherwise"

        async def execute(self, inputs):
            await asyncio.sleep(float(os.environ.get("SECONDS", "0")))
            return {"done": True}
    """
)


def test_ctrl_c_in_run_exits_130_and_recover_finishes(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(JOBS)
    (tmp_path / "tree.json").write_text(json.dumps([{"id": "slow", "name": "slow_cli"}]))
    db_path = tmp_path / "tasks.db"
    base = [sys.executable, "-m", "aipartnerupflow", "--db", str(db_path)]
    env = {**os.environ, "SECONDS": "600"}
    run = subprocess.Popen(
        [*base, "run", "tree.json", "--keep-ids", "--import", "jobs"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while status_in(db_path, "slow") != TaskStatus.IN_PROGRESS:
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err

    done = subprocess.run(
        [*base, "recover", "--import", "jobs"],
        cwd=tmp_path,
        env={**os.environ, "SECONDS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "resumed 1 tree" in done.stdout
    assert status_in(db_path, "slow") == TaskStatus.COMPLETED
