"""The command line, through typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aipartnerupflow import Database
from aipartnerupflow.runtime import server
from aipartnerupflow.runtime.cli.app import app

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
    assert code == 1 and "tree x: failed" in output
    assert "no executor is registered as 'no_such_executor'" in output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read tasks from"),
        ([{"id": "a"}], "task 'a', field 'name': is required"),
        ({"tasks": "x"}, 'must hold a list of tasks or {"tasks": [...]}'),
        ([], "tasks must be a non-empty list"),
    ],
)
def test_bad_files_exit_2_with_a_message(
    url: str, tmp_path: Path, content: object, message: str
) -> None:
    code, output = invoke(url, "run", write(tmp_path, content))
    assert code == 2 and output.startswith("error: ") and message in " ".join(output.split())
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "flow"], "'run flow' needs --tasks-file"),
        (["run", "a.json", "--tasks-file", "b.json"], "not both"),
        (["run", "missing.json"], "cannot read tasks from missing.json"),
    ],
)
def test_bad_run_arguments_exit_2(url: str, args: list[str], message: str) -> None:
    code, output = invoke(url, *args)
    assert code == 2 and message in output and "Traceback" not in output


@pytest.mark.parametrize("bad", ["nonsense", "sqlite:////no/such/directory/x.db"])
def test_an_unusable_database_exits_2(bad: str) -> None:
    code, output = invoke(bad, "tasks", "list")
    assert code == 2 and "error: cannot open the database" in output
    assert "Traceback" not in output


def test_ids_are_shown_verbatim_not_as_markup(url: str, tmp_path: Path) -> None:
    task = {"id": "[bold]x", "name": "system_info_executor", "inputs": {"resource": "cpu"}}
    code, output = invoke(url, "run", write(tmp_path, [task]))
    assert code == 0 and "tree [bold]x: completed" in output
    assert "[bold]x" in invoke(url, "tasks", "list")[1]


def test_task_commands(url: str, tmp_path: Path) -> None:
    assert invoke(url, "run", write(tmp_path, TREE))[0] == 0
    code, output = invoke(url, "tasks", "list", "--root-only")
    assert code == 0 and "root" in output and "cpu" not in output
    assert "cpu" not in invoke(url, "tasks", "list", "--status", "pending")[1]
    assert invoke(url, "tasks", "list", "--status", "bogus")[0] == 2
    code, output = invoke(url, "tasks", "get", "cpu")
    assert code == 0 and json.loads(output)["parent_id"] == "root"
    code, output = invoke(url, "tasks", "tree", "root")
    assert code == 0 and "system_info_executor (cpu)" in output
    code, output = invoke(url, "tasks", "history", "cpu")
    assert code == 0 and all(kind in output for kind in ("created", "started", "completed"))
    code, output = invoke(url, "tasks", "at", "root", "--position", "2")
    assert code == 0 and "pending" in output and "completed" not in output
    code, output = invoke(url, "tasks", "at", "root", "--at", datetime.now(UTC).isoformat())
    assert code == 0 and output.count("completed") == 2
    code, output = invoke(url, "tasks", "at", "root", "--at", "2000-01-01T00:00:00")
    assert code == 2 and "did not exist at that point" in output
    code, output = invoke(url, "tasks", "copy", "root", "--children")
    assert code == 0 and output.count("pending") == 2
    code, output = invoke(url, "tasks", "cancel", "root")
    assert code == 1 and '"current_status": "completed"' in output
    for command in ("get", "tree", "cancel", "copy", "history"):
        code, output = invoke(url, "tasks", command, "nope")
        assert code == 2 and "error:" in output and "'nope'" in output, command
    code, output = invoke(url, "projections", "rebuild")
    assert code == 0 and "rebuilt 4 tasks" in output
    code, output = invoke(url, "recover")
    assert code == 0 and "resumed 0 tree(s)" in output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"host": "127.0.0.1", "port": 8000, "auth_secret": None}),
        (["--port", "9001", "--auth-secret", "s"], {"host": "127.0.0.1", "port": 9001}),
        (["start", "--host", "0.0.0.0"], {"host": "0.0.0.0", "port": 8000}),
        (["--port", "9002", "start", "--auth-secret", "s"], {"port": 9002, "auth_secret": "s"}),
    ],
)
def test_serve_and_serve_start(
    url: str, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: dict[str, Any]
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run_server(db: Database, **options: Any) -> None:
        calls.append({"url": db.url, **options})

    monkeypatch.delenv("AIPARTNERUPFLOW_AUTH_SECRET", raising=False)
    monkeypatch.setattr(server, "run_server", fake_run_server)
    code, output = invoke(url, "serve", *args)
    assert code == 0, output
    assert len(calls) == 1 and calls[0]["url"] == url
    assert expected.items() <= calls[0].items()


def test_real_subprocess_run(url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aipartnerupflow",
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
