"""``tasks fork``, ``tasks diff`` and ``tasks timeline`` through typer's runner and a real
subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aipartnerupflow.runtime.cli.app import app

runner = CliRunner()
TREE = [
    {"id": "root", "name": "aggregate_results_executor", "dependencies": ["cpu", "mem"]},
    {
        "id": "cpu",
        "name": "system_info_executor",
        "parent_id": "root",
        "inputs": {"resource": "cpu"},
    },
    {
        "id": "mem",
        "name": "system_info_executor",
        "parent_id": "root",
        "inputs": {"resource": "memory"},
    },
]


@pytest.fixture
def url(tmp_path: Path) -> str:
    (tmp_path / "tree.json").write_text(json.dumps(TREE))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert invoke(url, "run", "--keep-ids", str(tmp_path / "tree.json"))[0] == 0
    return url


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", url], terminal_width=200)
    return result.exit_code, result.output


def fork_id(output: str) -> str:
    found = re.search(r"fork (\S+) of", output)
    assert found, output
    return found.group(1)


def test_fork_with_a_changed_input_run_and_diff(url: str) -> None:
    code, output = invoke(
        url, "tasks", "fork", "root", "--set", "cpu.inputs.resource=disk", "--run"
    )
    assert code == 0, output
    assert "run: completed, 3 tasks" in output
    forked = fork_id(output)
    code, output = invoke(url, "tasks", "diff", "root", forked)
    assert code == 1, output  # they differ
    assert "→" in output and '"disk"' in output and "first divergence:" in output
    code, output = invoke(url, "tasks", "diff", "root", forked, "--output", "json")
    data = json.loads(output)
    assert data["summary"]["counts"]["changed"] == 2  # cpu, and root that merged it
    first = data["summary"]["first_divergence"]
    assert (first["a"], first["b"]) == ("cpu", data["tasks"][1]["b"])
    assert first["changes"]["inputs"]["new"] == {"resource": "disk"}


def test_fork_at_a_position_leaves_a_pending_tree(url: str) -> None:
    code, output = invoke(url, "tasks", "fork", "root", "--at", "4")
    assert code == 0, output
    assert "at position 4" in output and "completed" not in output
    code, output = invoke(url, "tasks", "diff", "root", "root")
    assert code == 0 and "3 same" in output


def test_timeline_writes_a_page(url: str, tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    code, output = invoke(url, "tasks", "timeline", "root", "-o", str(page))
    assert code == 0, output
    html = page.read_text()
    assert "timeline-data" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fork", "root", "--at", "last week"], "--at must be a log position or an ISO 8601"),
        (["fork", "root", "--set", "cpu.resource=x"], "expected TASK.inputs.KEY=VALUE"),
        (["fork", "root", "--set", "cpu.inputs.resource"], "missing =VALUE"),
        (["fork", "root", "--set", "nope.inputs.a=1"], "task 'nope'"),
        (["fork", "nope"], "task 'nope'"),
        (["diff", "root", "nope"], "task 'nope'"),
        (["timeline", "nope"], "task 'nope'"),
    ],
)
def test_bad_input_exits_2_with_one_line(url: str, args: list[str], message: str) -> None:
    code, output = invoke(url, "tasks", *args)
    assert code == 2, output
    assert message in output and "Traceback" not in output


def test_a_real_process(url: str) -> None:
    command = [sys.executable, "-m", "aipartnerupflow", "tasks", "fork", "root", "--rerun", "mem"]
    done = subprocess.run([*command, "--db", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fork " in done.stdout
