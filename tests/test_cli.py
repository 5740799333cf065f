"""The command line, through typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aipartnerupflow.runtime.cli import app

runner = CliRunner()
TREE = [
    {"id": "root", "name": "aggregate_results_executor", "dependencies": ["cpu"]},
    {
        "id": "cpu",
        "name": "system_info_executor",
        "parent_id": "root",
        "inputs": {"resource": "cpu"},
    },
]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", url])
    return result.exit_code, result.output


def write(tmp_path: Path, content: object, name: str = "tree.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_demo_runs_an_example_tree(url: str) -> None:
    code, output = invoke(url, "demo")
    assert code == 0, output
    assert "completed, 3 tasks" in output and '"cores"' in output


def test_run_file_and_run_flow(url: str, tmp_path: Path) -> None:
    code, output = invoke(url, "run", write(tmp_path, TREE))
    assert code == 0 and "tree root: completed, 2 tasks" in output
    again = [{**task, "id": f"2-{task['id']}"} for task in TREE]
    again[0]["dependencies"] = ["2-cpu"]
    again[1]["parent_id"] = "2-root"
    code, output = invoke(
        url, "run", "flow", "--tasks-file", write(tmp_path, {"tasks": again}, "flow.json")
    )
    assert code == 0 and "tree 2-root: completed" in output


def test_run_exits_1_when_the_tree_fails(url: str, tmp_path: Path) -> None:
    code, output = invoke(url, "run", write(tmp_path, [{"id": "x", "name": "no_such_executor"}]))
    assert code == 1 and "failed" in output


@pytest.mark.parametrize("content", ["{not json", [{"id": "a"}], {"tasks": "x"}])
def test_bad_files_exit_2_with_a_message(url: str, tmp_path: Path, content: object) -> None:
    code, output = invoke(url, "run", write(tmp_path, content))
    assert code == 2 and "error:" in output and "Traceback" not in output


def test_task_commands(url: str, tmp_path: Path) -> None:
    assert invoke(url, "run", write(tmp_path, TREE))[0] == 0
    code, output = invoke(url, "tasks", "list", "--root-only")
    assert code == 0 and "root" in output and "cpu" not in output
    code, output = invoke(url, "tasks", "get", "cpu")
    assert code == 0 and json.loads(output)["parent_id"] == "root"
    code, output = invoke(url, "tasks", "tree", "root")
    assert code == 0 and "system_info_executor (cpu)" in output
    code, output = invoke(url, "tasks", "history", "cpu")
    assert code == 0 and all(kind in output for kind in ("created", "started", "completed"))
    code, output = invoke(url, "tasks", "at", "root", "--position", "2")
    assert code == 0 and "pending" in output and "completed" not in output
    code, output = invoke(url, "tasks", "copy", "root", "--children")
    assert code == 0 and output.count("pending") == 2
    code, output = invoke(url, "tasks", "cancel", "root")
    assert code == 1 and '"current_status": "completed"' in output
    code, output = invoke(url, "tasks", "get", "nope")
    assert code == 2 and "nope" in output
    code, output = invoke(url, "projections", "rebuild")
    assert code == 0 and "rebuilt 4 tasks" in output
    code, output = invoke(url, "recover")
    assert code == 0 and "resumed 0 tree(s)" in output


def test_real_subprocess_run(url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aipartnerupflow.runtime.cli",
            "run",
            write(tmp_path, TREE),
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "tree root: completed" in done.stdout
