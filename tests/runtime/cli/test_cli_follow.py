"""``tasks watch`` follows a run made by another process; ``tasks rerun`` and ``tasks
resume`` run a tree again, live (real ``python -m aipartnerupflow`` processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.data import status_in

from aipartnerupflow import TaskStatus

JOBS = textwrap.dedent(
    """
    import asyncio, pathlib
    from aipartnerupflow import BaseTask, executor_register

    @executor_register()
    class Gate(BaseTask):
        id = "gate_cli"
        name = "gate_cli"
        description = "finishes once its file exists; fails if told to"

        async def execute(self, inputs):
            while not pathlib.Path(inputs["file"]).exists():
                await asyncio.sleep(0.02)
            if pathlib.Path(inputs["file"]).read_text() == "fail":
                raise RuntimeError("the gate says no")
            return {"opened": True}
    """
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "jobs.py").write_text(JOBS)
    tree = [
        {"id": "top", "name": "gate_cli", "inputs": {"file": "top.open"}, "dependencies": ["gate"]},
        {"id": "gate", "name": "gate_cli", "parent_id": "top", "inputs": {"file": "gate.open"}},
    ]
    (tmp_path / "tree.json").write_text(json.dumps(tree))
    (tmp_path / "top.open").write_text("")
    return tmp_path


def command(folder: Path, *args: str) -> list[str]:
    db = str(folder / "tasks.db")
    return [sys.executable, "-m", "aipartnerupflow", "--db", db, *args]


def finish(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(folder, *args), cwd=folder, capture_output=True, text=True, timeout=120
    )


def start(folder: Path, *args: str) -> subprocess.Popen[str]:
    """A command left running, its output piped."""
    return subprocess.Popen(
        command(folder, *args),
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def gated_run(folder: Path) -> subprocess.Popen[str]:
    """A run of the tree in another process, held while the gate's file is missing."""
    run = start(folder, "run", "tree.json", "--keep-ids", "--import", "jobs")
    wait_for(folder, "gate", TaskStatus.IN_PROGRESS)
    return run


def wait_for(folder: Path, task_id: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while status_in(folder / "tasks.db", task_id) != status:
        assert time.monotonic() < deadline, f"{task_id} never became {status}"
        time.sleep(0.05)


def test_watch_follows_a_run_of_another_process_to_its_end(folder: Path) -> None:
    run = gated_run(folder)
    try:
        watch = start(folder, "tasks", "watch", "top")
        # The gate is shut: the run cannot end, so neither may the watch.
        with pytest.raises(subprocess.TimeoutExpired):
            watch.wait(timeout=2)
        (folder / "gate.open").write_text("")
        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        assert "tree top: completed, 2 tasks" in out and '{"opened": true}' in out
        assert run.wait(timeout=60) == 0
    finally:
        run.kill()


def test_a_failed_tree_resumed_and_rerun(folder: Path) -> None:
    (folder / "gate.open").write_text("fail")
    failed = finish(folder, "run", "tree.json", "--keep-ids", "--import", "jobs")
    assert failed.returncode == 1, failed.stderr
    watched = finish(folder, "tasks", "watch", "top")
    assert watched.returncode == 1 and "RuntimeError: the gate says no" in watched.stdout

    (folder / "gate.open").write_text("")
    rerun = finish(folder, "tasks", "rerun", "top", "--import", "jobs")
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith("copy ") and "completed, 2 tasks" in rerun.stdout
    assert status_in(folder / "tasks.db", "top") == TaskStatus.FAILED  # the copy ran, not it

    resumed = finish(folder, "tasks", "resume", "top", "--import", "jobs")
    assert resumed.returncode == 0, resumed.stderr
    assert "tree top: completed, 2 tasks" in resumed.stdout
    again = finish(folder, "tasks", "history", "gate", "-o", "json")
    kinds = [(line["type"], line["attempt"]) for line in json.loads(again.stdout)]
    assert kinds == [
        ("created", None),
        ("started", 1),
        ("failed", 1),
        ("copied", 1),  # by the rerun
        ("reset", 1),
        ("started", 2),
        ("completed", 2),
    ]


def test_for_scripts_watch_prints_each_change_it_sees_and_the_outcome(folder: Path) -> None:
    run = gated_run(folder)
    try:
        watch = start(folder, "tasks", "watch", "top", "-o", "jsonl")
        assert watch.stdout is not None
        # The first look comes out while the gate is still shut.
        first = [json.loads(watch.stdout.readline()) for _ in range(2)]
        assert {(e["task_id"], e["status"]) for e in first} == {
            ("top", TaskStatus.PENDING),
            ("gate", TaskStatus.IN_PROGRESS),
        }
        (folder / "gate.open").write_text("")
        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        *changes, end = [json.loads(line) for line in out.splitlines()]
        last = {e["task_id"]: e["status"] for e in changes}
        assert last == {"top": TaskStatus.COMPLETED, "gate": TaskStatus.COMPLETED}
        # Only changes: no task is printed twice in the same state.
        seen = [(e["task_id"], e["status"], e["progress"]) for e in first + changes]
        assert len(seen) == len(set(seen))
        assert (end["type"], end["status"], end["result"]) == (
            "outcome",
            "completed",
            {"opened": True},
        )
        assert run.wait(timeout=60) == 0
    finally:
        run.kill()


def test_for_scripts_rerun_and_resume_print_json(folder: Path) -> None:
    (folder / "gate.open").write_text("fail")
    assert finish(folder, "run", "tree.json", "--keep-ids", "--import", "jobs").returncode == 1
    (folder / "gate.open").write_text("")
    rerun = finish(folder, "tasks", "rerun", "top", "--import", "jobs", "-o", "json")
    assert rerun.returncode == 0, rerun.stderr
    end = json.loads(rerun.stdout)
    assert (end["status"], end["copy_of"], end["task_count"]) == ("completed", "top", 2)
    assert end["root_task_id"] != "top"
    resumed = finish(folder, "tasks", "resume", "top", "--import", "jobs", "-o", "jsonl")
    assert resumed.returncode == 0, resumed.stderr
    *events, final, end = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert [(e["type"], e["task_id"]) for e in events][:2] == [
        ("task_start", "gate"),
        ("task_completed", "gate"),
    ]
    assert (final["type"], end["type"], end["status"]) == ("final", "outcome", "completed")
