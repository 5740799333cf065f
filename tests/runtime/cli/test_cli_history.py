"""``tasks history``, ``tasks get --traceback``, ``tasks at`` and ``--output`` for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aipartnerupflow.runtime.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
runner = CliRunner()


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", url], terminal_width=200)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The failing example, run once: ``gpu`` raises, ``report`` fails for want of it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'cli.db'}"
    code, output = invoke(url, "run", "--keep-ids", str(EXAMPLES / "failing.json"))
    assert code == 1, output
    return url


def test_a_tree_history_reads_as_a_story(url: str) -> None:
    code, output = invoke(url, "tasks", "history", "cpu", "--tree")
    assert code == 0
    assert "system_info_executor (gpu)" in output and "failed #1 after" in output
    assert "error: null → \"resource must be one of cpu, memory, disk, got 'gpu'\"" in output
    assert "traceback: File" in output and "in execute" in output
    assert "(user_id=alice)" in output
    assert "Traceback (most recent call last)" not in output
    code, whole = invoke(url, "tasks", "history", "cpu", "--tree", "--full")
    assert code == 0 and "Traceback (most recent call last)" in whole


def test_history_as_json_and_json_lines(url: str) -> None:
    code, output = invoke(url, "tasks", "history", "report", "--tree", "--output", "json")
    lines = json.loads(output)
    assert code == 0 and {line["task_id"] for line in lines} == {"report", "cpu", "gpu"}
    code, output = invoke(url, "tasks", "history", "gpu", "-o", "jsonl")
    parsed = [json.loads(row) for row in output.splitlines()]
    assert [p["type"] for p in parsed] == ["created", "started", "failed"]
    assert parsed[-1]["attempt"] == 1 and "ValueError" in parsed[-1]["traceback"]


def test_get_traceback(url: str) -> None:
    code, output = invoke(url, "tasks", "get", "gpu", "--traceback")
    assert code == 0 and output.startswith("Traceback (most recent call last)")
    assert output.rstrip().endswith(
        "ValueError: resource must be one of cpu, memory, disk, got 'gpu'"
    )
    code, output = invoke(url, "tasks", "get", "gpu", "--traceback", "-o", "json")
    assert json.loads(output)["task_id"] == "gpu"
    code, output = invoke(url, "tasks", "get", "cpu", "--traceback")
    assert code == 1 and "no recorded traceback (status completed)" in output


def test_at_explains_a_task_created_later(url: str) -> None:
    code, output = invoke(url, "tasks", "at", "report", "--position", "1")
    assert code == 1 and "error: task report was created later, at position 2" in output
    code, output = invoke(url, "tasks", "at", "report", "--at", "2000-01-01T00:00")
    assert code == 1 and "created later" in output
    code, output = invoke(url, "tasks", "at", "report", "--at", "yesterday")
    assert code == 2 and "--at must be an ISO 8601 time" in output


@pytest.mark.parametrize(
    "args",
    [
        ["tasks", "list"],
        ["tasks", "get", "cpu"],
        ["tasks", "tree", "report"],
        ["tasks", "at", "report"],
        ["tasks", "history", "cpu"],
    ],
)
def test_every_data_command_speaks_json_and_json_lines(url: str, args: list[str]) -> None:
    code, whole = invoke(url, *args, "--output", "json")
    assert code == 0, whole
    document = json.loads(whole)
    code, output = invoke(url, *args, "--output", "jsonl")
    rows = [json.loads(row) for row in output.splitlines()]
    assert code == 0 and rows
    if isinstance(document, list):
        assert rows == document
    elif "children" in document:  # a tree: its tasks, one a line
        assert rows[0] == {k: v for k, v in document.items() if k != "children"}
        assert len(rows) == 3
    else:
        assert rows == [document]
