"""The command line as a user meets it: a real ``python -m aipartnerupflow`` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
LONG_ID = "0123456789abcdef0123456789abcdef"


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command line; no database or secret leaks in from the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIPARTNERUPFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "aipartnerupflow", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "COLUMNS": "100", **(env or {})},
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "tasks.db")


def test_demo_then_list_with_db_before_or_after_the_command(db: str) -> None:
    done = cli("demo", "--db", db)
    assert done.returncode == 0, done.stderr
    assert "completed, 3 tasks in" in done.stdout and '"cores"' in done.stdout
    before = cli("--db", db, "tasks", "list")
    after = cli("tasks", "list", "--db", db)
    assert before.returncode == after.returncode == 0
    assert before.stdout.splitlines()[-1] == after.stdout.splitlines()[-1] == "3 tasks"


def test_a_file_runs_again_and_again_with_fresh_ids(db: str) -> None:
    first = cli("run", str(EXAMPLES / "chain.json"), "--db", db)
    second = cli("run", str(EXAMPLES / "chain.json"), "--db", db)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    roots = [run.stdout.split("tree ")[-1].split(":")[0] for run in (first, second)]
    assert roots[0] != roots[1] and all(root.startswith("report-") for root in roots)
    listing = cli("tasks", "list", "--root-only", "--db", db).stdout
    assert all(root in listing for root in roots) and listing.endswith("2 tasks\n")


def test_keep_ids_runs_a_file_once(db: str) -> None:
    assert cli("run", "--keep-ids", str(EXAMPLES / "fanout.json"), "--db", db).returncode == 0
    again = cli("run", "--keep-ids", str(EXAMPLES / "fanout.json"), "--db", db)
    assert again.returncode == 2 and "a task with this id already exists" in again.stderr
    assert cli("tasks", "get", "machine", "--db", db).returncode == 0


def test_run_reads_standard_input(db: str) -> None:
    done = cli("run", "-", "--db", db, stdin=(EXAMPLES / "fanout.json").read_text())
    assert done.returncode == 0, done.stderr
    assert "completed, 4 tasks" in done.stdout


def test_a_failed_run_names_the_failing_tasks_and_their_errors(db: str) -> None:
    done = cli("run", str(EXAMPLES / "failing.json"), "--db", db)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if ": failed, 3 tasks in" in line)
    assert summary >= 0 and lines[summary].endswith("2 failed")
    failures = " ".join(" ".join(lines[summary + 1 :]).split())
    assert failures.index("got 'gpu'") < failures.index("required dependency 'gpu-")
    assert "null" not in done.stdout


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_run_for_scripts_prints_its_events_as_json_lines_then_the_outcome(db: str) -> None:
    done = cli("run", "--keep-ids", str(EXAMPLES / "chain.json"), "-o", "jsonl", "--db", db)
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    *events, final, end = lines
    assert (final["type"], end["type"]) == ("final", "outcome")
    assert [(e["type"], e["task_id"]) for e in events if e["task_id"] == "report"] == [
        ("task_start", "report"),
        ("task_completed", "report"),
    ]
    assert {e["task_id"] for e in events} == {"cpu", "memory", "report"}
    assert end["status"] == "completed" and end["task_count"] == 3 and end["failed"] == []
    assert end["result"] == final["result"] == events[-1]["result"]


def test_a_failed_run_for_scripts_is_one_json_document_naming_the_failures(db: str) -> None:
    done = cli("run", "--keep-ids", str(EXAMPLES / "failing.json"), "--output", "json", "--db", db)
    assert done.returncode == 1
    end = json.loads(done.stdout)
    assert (end["type"], end["status"], end["result"]) == ("outcome", "failed", None)
    assert [(f["id"], f["error_type"]) for f in end["failed"]] == [
        ("gpu", "ValueError"),
        ("report", "DependencyFailedError"),
    ]
    copy = cli("tasks", "copy", "report", "--children", "-o", "json", "--db", db)
    tree = json.loads(copy.stdout)
    assert copy.returncode == 0 and tree["original_task_id"] == "report"
    assert [child["original_task_id"] for child in tree["children"]] == ["cpu", "gpu"]
    cancel = cli("tasks", "cancel", tree["id"], "-o", "jsonl", "--db", db)
    (answer,) = json_lines(cancel.stdout)
    assert cancel.returncode == 0 and answer["status"] == "cancelled"


def test_executors_list_names_each_executor_and_its_class() -> None:
    table = cli("executors", "list")
    listed = cli("executors", "list", "-o", "json")
    assert table.returncode == listed.returncode == 0
    executors = json.loads(listed.stdout)
    assert {"id": "system_info_executor", "class": SYSTEM_INFO} in executors
    assert table.stdout.splitlines() == [f"{e['id']}\t{e['class']}" for e in executors]


SYSTEM_INFO = "aipartnerupflow.runtime.executors.builtin.SystemInfoExecutor"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read tasks from"),
        ('[{"id": "a"}]', "field 'name': is required"),
        ('{"tasks": "x"}', 'must hold a list of tasks or {"tasks": [...]}'),
        ("[]", "tasks must be a non-empty list"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(db: str, content: str, message: str) -> None:
    done = cli("run", "-", "--db", db, stdin=content)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["tasks", "list"],
        ["tasks", "get", "x"],
        ["tasks", "history", "x"],
        ["projections", "rebuild"],
        ["recover"],
    ],
)
def test_read_commands_do_not_create_a_missing_database(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nowhere" / "tasks.db"
    done = cli(*args, "--db", str(missing))
    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr.strip() == f"error: no database at {missing} (run a tree first, or pass --db)"
    )
    assert not missing.parent.exists()


def test_an_unusable_database_url_is_one_line() -> None:
    done = cli("tasks", "list", "--db", "nonsense://x")
    assert done.returncode == 2 and done.stderr.startswith("error: cannot open the database")
    assert len(done.stderr.strip().splitlines()) == 1


def test_status_is_case_insensitive_and_its_choices_are_listed(db: str) -> None:
    assert cli("demo", "--db", db).returncode == 0
    done = cli("tasks", "list", "--status", "COMPLETED", "--db", db)
    assert done.returncode == 0 and done.stdout.endswith("3 tasks\n")
    assert cli("tasks", "list", "--status", "Pending", "--db", db).stdout == "0 tasks\n"
    bad = cli("tasks", "list", "--status", "bogus", "--db", db)
    assert bad.returncode == 2 and "pending" in bad.stderr and "cancelled" in bad.stderr


def test_long_ids_are_short_unless_wide_and_a_shown_prefix_finds_the_task(db: str) -> None:
    task = {"id": LONG_ID, "name": "system_info_executor", "inputs": {"resource": "cpu"}}
    assert cli("run", "--keep-ids", "-", "--db", db, stdin=json.dumps([task])).returncode == 0
    listing = cli("tasks", "list", "--db", db).stdout
    assert "01234567…" in listing and LONG_ID not in listing
    assert LONG_ID in cli("tasks", "list", "--wide", "--db", db).stdout
    found = cli("tasks", "get", "01234567…", "--db", db)
    assert found.returncode == 0 and json.loads(found.stdout)["id"] == LONG_ID
    assert "01234567…" in cli("tasks", "tree", "0123", "--db", db).stdout
    assert cli("run", str(EXAMPLES / "fanout.json"), "--db", db).returncode == 0
    assert cli("run", str(EXAMPLES / "fanout.json"), "--db", db).returncode == 0
    ambiguous = cli("tasks", "tree", "machine", "--db", db)
    assert ambiguous.returncode == 2 and ambiguous.stderr.startswith(
        "error: several task ids start with 'machine' (machine-"
    )


def test_task_commands(db: str) -> None:
    assert cli("run", "--keep-ids", str(EXAMPLES / "chain.json"), "--db", db).returncode == 0
    history = cli("tasks", "history", "cpu", "--db", db)
    assert history.returncode == 0
    assert all(kind in history.stdout for kind in ("created", "started", "completed"))
    positions = [int(line.split()[0]) for line in history.stdout.splitlines() if "created" in line]
    at = cli("tasks", "at", "report", "--position", str(positions[0]), "--db", db)
    assert at.returncode == 0 and "pending" in at.stdout and "completed" not in at.stdout
    early = cli("tasks", "at", "report", "--at", "2000-01-01T00:00:00", "--db", db)
    assert early.returncode == 1 and "was created later, at position" in early.stderr
    copy = cli("tasks", "copy", "report", "--children", "--db", db)
    assert copy.returncode == 0 and copy.stdout.count("pending") == 3
    cancel = cli("tasks", "cancel", "report", "--message", "enough", "--db", db)
    assert cancel.returncode == 1 and '"current_status": "completed"' in cancel.stdout
    for command in ("get", "tree", "cancel", "copy", "history", "at"):
        missing = cli("tasks", command, "nope", "--db", db)
        assert missing.returncode == 2 and missing.stderr == "error: no task 'nope'\n", command
    rebuilt = cli("projections", "rebuild", "--db", db)
    assert rebuilt.returncode == 0 and rebuilt.stdout == "rebuilt 6 tasks\n"
    recovered = cli("recover", "--db", db)
    assert recovered.returncode == 0 and recovered.stdout == "resumed 0 trees\n"


def test_log_lines_as_json_with_their_fields(db: str) -> None:
    done = cli(
        "--log-format",
        "json",
        "run",
        str(EXAMPLES / "fanout.json"),
        "--db",
        db,
        "--log-level",
        "INFO",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    completed = [line for line in lines if line["event"] == "task_completed"]
    assert len(completed) == 4
    assert all(
        {"tree_id", "task_id", "attempt", "level", "timestamp"} <= set(line) for line in completed
    )
    quiet = cli("run", str(EXAMPLES / "fanout.json"), "--db", db)
    assert quiet.stderr == ""


SECRET = "s" * 32


def test_token_is_a_jwt_with_an_expiry() -> None:
    done = cli("token", "--secret", SECRET, "--user", "alice", "--ttl", "1h")
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 3600
    forever = cli(
        "token", "--user", "bob", "--no-expiry", env={"AIPARTNERUPFLOW_AUTH_SECRET": SECRET}
    )
    assert "exp" not in jwt.decode(forever.stdout.strip(), SECRET, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--secret", "short", "--ttl", "1h"], "the secret has 5 bytes; HS256 needs at least 32"),
        (["--secret", SECRET], "give --ttl (such as --ttl 1h), or --no-expiry"),
        (["--secret", SECRET, "--ttl", "1h", "--no-expiry"], "give --ttl"),
        (["--secret", SECRET, "--ttl", "soon"], "--ttl must be a positive number"),
    ],
)
def test_unsafe_tokens_are_refused(args: list[str], message: str) -> None:
    done = cli("token", "--user", "alice", *args)
    assert done.returncode == 2 and done.stdout == "" and message in done.stderr


def test_every_option_and_argument_has_help() -> None:
    import typer.main

    from aipartnerupflow.runtime.cli.app import app

    def commands(group: object, path: str) -> list[tuple[str, object]]:
        found = [(path, group)]
        for name, sub in getattr(group, "commands", {}).items():
            found += commands(sub, f"{path} {name}")
        return found

    for path, command in commands(typer.main.get_command(app), "aipartnerupflow"):
        for param in command.params:  # type: ignore[attr-defined]
            assert getattr(param, "help", None), f"{path}: {param.name} has no help"


# Help is answered before any command runs: building the commands must not load the engine.
HELP_PROBE = """
import runpy, sys
sys.argv = ["aipartnerupflow", *sys.argv[1:]]
try:
    runpy.run_module("aipartnerupflow", run_name="__main__")
except SystemExit as done:
    code = done.code
heavy = {"sqlalchemy", "pykka", "eventsourcing", "msgpack", "structlog", "jwt", "uvicorn"}
print(code, sorted(heavy & {name.split(".")[0] for name in sys.modules}))
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["tasks", "--help"], ["worker", "--help"], ["tasks", "fork", "--help"]]
)
def test_help_does_not_load_the_engine(args: list[str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIPARTNERUPFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
    )
    assert "Usage: aipartnerupflow" in done.stdout, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_once(db: str, *args: str, env: dict[str, str] | None = None) -> tuple[dict, int, str]:
    """Start ``serve``, read the agent card and post an oversized body, stop it with
    SIGINT; returns the card, the status of the big post, and stderr."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIPARTNERUPFLOW_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "aipartnerupflow", "serve", "--db", db, *args],
        env={**clean, "AIPARTNERUPFLOW_PORT": str(port), **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(600):  # until it listens (or gave up), never on a timer
                try:
                    card = client.get("/.well-known/agent-card.json").json()
                    break
                except httpx.TransportError:
                    assert server.poll() is None, server.communicate()[1]
                    time.sleep(0.05)
            status = client.post("/tasks", content=b"x" * 500).status_code
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    return card, status, stderr


def test_serve_takes_its_settings_from_options_and_environment(db: str) -> None:
    card, status, stderr = serve_once(
        db,
        "--public-url",
        "https://flows.example/",
        "--no-recover",
        "--log-format",
        "json",
        env={"AIPARTNERUPFLOW_MAX_BODY": "100"},
    )
    assert card["url"].startswith("https://flows.example") and status == 413
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any("agent-card.json" in line["event"] for line in access)
    quiet_card, _, quiet = serve_once(db, "--no-access-log", "--log-level", "warning")
    assert quiet_card["url"].startswith("http://127.0.0.1:") and "agent-card" not in quiet


def test_serve_refuses_a_short_auth_secret(db: str) -> None:
    done = cli("serve", "--auth-secret", "short", "--db", db)
    assert done.returncode == 2 and "--auth-secret: the secret has 5 bytes" in done.stderr


def test_the_readme_documents_every_serve_setting() -> None:
    import typer.main

    from aipartnerupflow.runtime.cli.app import app

    readme = (ROOT / "README.md").read_text()
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    for param in serve.params:
        if param.envvar:
            assert f"`{param.envvar}`" in readme, param.envvar
        if param.opts and param.opts[0].startswith("--"):
            assert f"`{param.opts[0]}" in readme, param.opts[0]
