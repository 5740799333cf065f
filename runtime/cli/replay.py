"""``tasks fork``, ``tasks diff`` and ``tasks timeline``: replay debugging from the shell."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Column, Table

from aipartnerupflow.runtime.cli.app import _exit_for, console, run_async, tasks_app
from aipartnerupflow.runtime.cli.context import command, fail
from aipartnerupflow.runtime.cli.view import Output, OutputOption, cell, emit, render, styled

if TYPE_CHECKING:
    from aipartnerupflow.actors.reports import RunSummary
    from aipartnerupflow.runtime.session import Database

RootArgument = Annotated[str, typer.Argument(help="Id of the tree's root task.")]


def parse_time(text: str | None, what: str = "an ISO 8601 time") -> datetime | None:
    """``--at``: an ISO 8601 time; one that names no zone is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--at must be {what}, got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_at(text: str | None) -> tuple[int | None, datetime | None]:
    """``--at``: a log position (digits) or an ISO 8601 time (UTC when it has no zone)."""
    if text is not None and text.isdigit():
        return int(text), None
    return None, parse_time(text, "a log position or an ISO 8601 time")


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
            raise fail(f"--set {item!r}: expected TASK.inputs.KEY=VALUE or TASK.params.KEY=VALUE")
        if not sep:
            raise fail(f"--set {item!r}: missing =VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        overrides.setdefault(task, {}).setdefault(field, {})[key] = value
    return overrides


@command(tasks_app, "fork")
def tasks_fork(
    root_id: RootArgument,
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
    output: OutputOption = Output.TABLE,
) -> None:
    """Fork a tree as it was at a point of its log; completed tasks keep their results."""
    position, when = parse_at(at)
    overrides = parse_sets(set_ or [])

    async def do_fork(database: Database) -> RunSummary | None:
        from aipartnerupflow.projections.lineage import lineage
        from aipartnerupflow.runtime.fork import fork_async
        from aipartnerupflow.runtime.task_manager import TaskManager

        node = await fork_async(database, root_id, position, when, overrides, rerun)
        found = await database.run(lineage, database, node.task.id)
        assert found is not None
        if output is Output.TABLE:
            console.print(
                f"fork [bold]{escape(node.task.id)}[/bold] of {escape(root_id)} at position "
                f"{found['position']}"
            )
            console.print(render(node))
        summary = await TaskManager(database).run_tree(node.task.id) if run else None
        if summary is not None and output is Output.TABLE:
            console.print(f"run: {styled(summary['status'])}, {summary['task_count']} tasks")
        made = {"fork": node.task.id, "source": root_id, "position": found["position"]}
        emit(
            console,
            output,
            {**made, "tree": node.to_dict(), "run": summary},
            [{**made, "run": summary}],
        )
        return summary

    summary = run_async(False, do_fork)
    if summary is not None:
        _exit_for(summary)


@command(tasks_app, "diff")
def tasks_diff(
    root_a: Annotated[str, typer.Argument(help="Root task of the first run.")],
    root_b: Annotated[str, typer.Argument(help="Root task of the run to compare with it.")],
    output: OutputOption = Output.TABLE,
    all_: Annotated[bool, typer.Option("--all", help="Also list tasks that are the same.")] = False,
) -> None:
    """Compare two runs task by task; exit 1 when they differ."""

    async def compare(database: Database) -> dict[str, Any]:
        from aipartnerupflow.projections.replay import diff

        return await database.run(diff, database, root_a, root_b)

    result = run_async(False, compare)
    summary = result["summary"]
    if not emit(console, output, result, result["tasks"]):
        # Paths and values are long: every cell folds rather than hiding the changes.
        headers = ("task", "a → b", "state", "changes (old → new)")
        rows = Table(*(Column(h, overflow="fold") for h in headers), box=box.SIMPLE_HEAD)
        for entry in result["tasks"]:
            if entry["state"] == "same" and not all_:
                continue
            changes = "\n".join(
                f"{field}: {cell(c['old'])} → {cell(c['new'])}"
                for field, c in entry["changes"].items()
            )
            rows.add_row(
                escape(entry["path"]),
                escape(f"{entry['a'] or '-'} → {entry['b'] or '-'}"),
                entry["state"],
                escape(changes),
            )
        console.print(rows)
        counts = ", ".join(f"{n} {state}" for state, n in summary["counts"].items())
        first = summary["first_divergence"]
        where = f"; first divergence: {escape(first['path'])}" if first else ""
        console.print(f"{counts}{where}")
    if not summary["identical"]:
        raise typer.Exit(1)


@command(tasks_app, "timeline")
def tasks_timeline(
    root_id: RootArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "timeline.html"
    ),
    compare: Annotated[
        str | None,
        typer.Option(help="Root of another run (such as the fork's source) to draw beside it."),
    ] = None,
) -> None:
    """Write a self-contained HTML timeline of a tree's run (works offline)."""

    async def write(database: Database) -> None:
        from aipartnerupflow.runtime.timeline import timeline_html

        page = await database.run(timeline_html, database, root_id, compare)
        try:
            out.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc}") from None
        console.print(f"wrote {escape(str(out))}")

    run_async(False, write)
