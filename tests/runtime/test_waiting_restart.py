"""A wait for input survives its process: a real process runs a tree until a task waits,
is SIGKILLed mid-run, and another process gives the input; the tree completes."""

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

import pytest

from aipartnerupflow import (
    BaseTask,
    TaskManager,
    TaskStateError,
    TaskStatus,
    create_session,
    get_registry,
    history_async,
)

RUNNER = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    from aipartnerupflow import BaseTask, TaskCreator, TaskManager, create_session
    from aipartnerupflow import executor_register

    @executor_register()
    class Approval(BaseTask):
        id = "approval"
        name = "approval"
        description = "asks once, then returns its input"

        async def execute(self, inputs):
            if "input" not in inputs:
                return {"status": "input_required", "prompt": "Go on?",
                        "schema": {"type": "object", "required": ["approved"]}}
            return {"approved": inputs["input"]["approved"]}

    @executor_register()
    class Gate(BaseTask):
        id = "gate"
        name = "gate"
        description = "finishes once its file exists"

        async def execute(self, inputs):
            while not pathlib.Path(inputs["file"]).exists():
                await asyncio.sleep(0.02)
            return {"opened": True}

    def report(events):
        for event in events:
            if event["type"] == "task_waiting":
                print("WAITING", flush=True)

    async def main():
        db = create_session(sys.argv[1], lease_ttl=1.0)
        await TaskCreator(db).create_task_tree_from_array([
            {"id": "root", "name": "gate", "dependencies": ["ask", "gate"],
             "inputs": {"file": sys.argv[2]}},
            {"id": "ask", "name": "approval", "parent_id": "root"},
            {"id": "gate", "name": "gate", "parent_id": "root", "inputs": {"file": sys.argv[2]}},
        ])
        await TaskManager(db).run_tree("root", observer=report)

    asyncio.run(main())
    """
)


class Approval(BaseTask):
    id = "approval"
    name = "approval"
    description = "asks once, then returns its input"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"approved": inputs["input"]["approved"]}


class Gate(BaseTask):
    id = "gate"
    name = "gate"
    description = "open at once in this process"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"opened": Path(inputs["file"]).exists()}


@pytest.fixture(autouse=True)
def executors():
    registry = get_registry()
    for executor in (Approval, Gate):
        registry.register_executor(executor)
    yield
    for executor in (Approval, Gate):
        registry.unregister_executor(executor.id)


async def give_input_once_the_dead_owner_lets_go(manager: TaskManager) -> dict[str, Any]:
    """The killed process's lease lives on for its time to live (1 s): until then the
    tree is another process's, and the input is refused with nothing written."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await manager.provide_input("ask", {"approved": True})
        except TaskStateError as exc:
            assert "another process" in str(exc)
            assert time.monotonic() < deadline, "the dead owner's lease never expired"
            await asyncio.sleep(0.1)


async def test_a_wait_survives_sigkill_and_resumes_in_another_process(
    db_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    gate_file = tmp_path / "open"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, str(script), db_url, str(gate_file)],
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"WAITING"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    db = create_session(db_url)
    try:
        manager = TaskManager(db)
        ask = await manager.task_repository.get_task_by_id("ask")
        assert ask.status == TaskStatus.WAITING
        assert ask.result["prompt"] == "Go on?"
        gate = await manager.task_repository.get_task_by_id("gate")
        assert gate.status == TaskStatus.IN_PROGRESS  # killed mid-run
        gate_file.touch()
        summary = await give_input_once_the_dead_owner_lets_go(manager)
        assert summary["status"] == TaskStatus.COMPLETED
        ask = await manager.task_repository.get_task_by_id("ask")
        assert ask.result == {"approved": True}
        kinds = [entry["type"] for entry in await history_async(db, "ask")]
        asked, answered = ["created", "started", "waiting"], ["updated", "reset"]
        assert kinds == [*asked, *answered, "started", "completed"]
    finally:
        db.close()
