"""``tasks fork``, ``tasks diff`` and ``tasks timeline``: replay debugging from the shell."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from aipartnerupflow.actors.reports import RunSummary
from aipartnerupflow.projections.lineage import lineage
from aipartnerupflow.projections.replay import diff
from aipartnerupflow.runtime.cli.app import (
    DbOption,
    _exit_for,
    _fail,
    _print_json,
    _styled,
    _table,
    console,
    render,
    tasks_app,
    with_db,
)
from aipartnerupflow.runtime.fork import fork_async
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.task_manager import TaskManager
from aipartnerupflow.runtime.timeline import timeline_html

#: Longest rendering of a value in the diff table (``--output json`` has them whole).
_CELL = 60


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


def parse_at(text: str | None) -> tuple[int | None, datetime | None]:
    """``--at``: a log position (digits) or an ISO 8601 time (UTC when it has no zone)."""
    if text is None:
        return None, None
    if text.isdigit():
        return int(text), None
    try:
        return None, datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--at must be a log position or an ISO 8601 time, got {text!r}") from None


def parse_sets(items: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``TASK.inputs.KEY=VALUE`` (or ``.params.``); VALUE is JSON, else a string."""
    overrides: dict[str, dict[str, dict[str, Any]]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        for field in ("inputs", "params"):
            task, mark, key = target.partition(f".{field}.")
            if mark and task and key:
                break
        else:
            raise _fail(f"--set {item!r}: expected TASK.inputs.KEY=VALUE or TASK.params.KEY=VALUE")
        if not sep:
            raise _fail(f"--set {item!r}: missing =VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        overrides.setdefault(task, {}).setdefault(field, {})[key] = value
    return overrides


@tasks_app.command("fork")
def tasks_fork(
    root_id: str,
    at: Annotated[
        str | None,
        typer.Option(help="Log position, or ISO 8601 time (UTC unless it names a zone)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="TASK.inputs.KEY=VALUE or TASK.params.KEY=VALUE (JSON)."),
    ] = None,
    rerun: Annotated[
        list[str] | None, typer.Option("--rerun", help="Run this task again (id or name).")
    ] = None,
    run: Annotated[bool, typer.Option("--run", help="Run the fork right away.")] = False,
    db: DbOption = None,
) -> None:
    """Fork a tree as it was at a point of its log; completed tasks keep their results."""
    position, when = parse_at(at)
    overrides = parse_sets(set_ or [])

    async def do_fork(database: Database) -> RunSummary | None:
        node = await fork_async(database, root_id, position, when, overrides, rerun)
        found = await database.run(lineage, database, node.task.id)
        assert found is not None
        console.print(
            f"fork [bold]{escape(node.task.id)}[/bold] of {escape(root_id)} at position "
            f"{found['position']}"
        )
        console.print(render(node))
        if not run:
            return None
        summary = await TaskManager(database).run_tree(node.task.id)
        console.print(f"run: {_styled(summary['status'])}, {summary['task_count']} tasks")
        return summary

    summary = with_db(do_fork)(db=db)
    if summary is not None:
        _exit_for(summary)


def _cell(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


@tasks_app.command("diff")
def tasks_diff(
    root_a: str,
    root_b: str,
    output: Annotated[Output, typer.Option("--output", "-o")] = Output.TABLE,
    all_: Annotated[bool, typer.Option("--all", help="Also list tasks that are the same.")] = False,
    db: DbOption = None,
) -> None:
    """Compare two runs task by task; exit 1 when they differ."""

    async def compare(database: Database) -> dict[str, Any]:
        return await database.run(diff, database, root_a, root_b)

    result = with_db(compare)(db=db)
    summary = result["summary"]
    if output is Output.JSON:
        _print_json(result)
    else:
        table = _table("task", "a → b", "state", "changes (old → new)")
        for entry in result["tasks"]:
            if entry["state"] == "same" and not all_:
                continue
            changes = "\n".join(
                f"{field}: {_cell(c['old'])} → {_cell(c['new'])}"
                for field, c in entry["changes"].items()
            )
            table.add_row(
                escape(entry["path"]),
                escape(f"{entry['a'] or '-'} → {entry['b'] or '-'}"),
                entry["state"],
                escape(changes),
            )
        console.print(table)
        counts = ", ".join(f"{n} {state}" for state, n in summary["counts"].items())
        first = summary["first_divergence"]
        where = f"; first divergence: {escape(first['path'])}" if first else ""
        console.print(f"{counts}{where}")
    if not summary["identical"]:
        raise typer.Exit(1)


@tasks_app.command("timeline")
def tasks_timeline(
    root_id: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "timeline.html"
    ),
    db: DbOption = None,
) -> None:
    """Write a self-contained HTML timeline of a tree's run (works offline)."""

    async def write(database: Database) -> None:
        page = await database.run(timeline_html, database, root_id)
        try:
            out.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {out}: {exc}") from None
        console.print(f"wrote {escape(str(out))}")

    with_db(write)(db=db)
