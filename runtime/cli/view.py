"""What the command line prints: short ids, local times, durations, trees, live runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table
from rich.tree import Tree

from aipartnerupflow.events.domain.status import TaskStatus

if TYPE_CHECKING:
    from aipartnerupflow.projections.models import TaskModel
    from aipartnerupflow.projections.tree_node import TaskTreeNode

#: Ids longer than this (UUIDs) are shown as their first characters unless --wide is given.
SHORT_ID = 20
SHORT_PREFIX = 8

STATUS_STYLES = {
    TaskStatus.PENDING: "dim",
    TaskStatus.IN_PROGRESS: "yellow",
    TaskStatus.WAITING: "cyan",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "magenta",
}


def plural(count: int, word: str) -> str:
    """``1 task``, ``2 tasks``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def first_line(text: object) -> str:
    return (str(text).splitlines() or [""])[0]


def short_id(task_id: str, wide: bool = False) -> str:
    """The id, or its first characters and an ellipsis (commands accept such a prefix)."""
    if wide or len(task_id) <= SHORT_ID:
        return task_id
    return task_id[:SHORT_PREFIX] + "…"


def local_time(moment: datetime | None, today: date | None = None) -> str:
    """A time in the machine's zone: the time of day for today's, else date and minute."""
    if moment is None:
        return ""
    local = moment.astimezone()
    if local.date() == (today or datetime.now().astimezone().date()):
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    """``0.25 s``, ``12 s``, ``3 min 4 s``, ``2 h 5 min``."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def task_duration(task: Any) -> str:
    if task.started_at is None:
        return ""
    end = task.completed_at or datetime.now(task.started_at.tzinfo)
    return duration((end - task.started_at).total_seconds())


def state(task: Any) -> str:
    """The status, with the share done while it runs."""
    if task.status == TaskStatus.IN_PROGRESS:
        return styled(task.status, f"{task.status} {task.progress or 0:.0%}")
    return styled(task.status)


def styled(status: str, text: str | None = None) -> str:
    style = STATUS_STYLES.get(status, "default")
    return f"[{style}]{escape(text or status)}[/{style}]"


def _label(task: Any, wide: bool) -> str:
    state = task.status
    if task.status == TaskStatus.IN_PROGRESS:
        state += f" {task.progress or 0:.0%}"
    spent = task_duration(task)
    text = f"[bold]{escape(task.name)}[/bold] ({escape(short_id(task.id, wide))}) "
    text += styled(task.status, state) + (f" [dim]{spent}[/dim]" if spent else "")
    if task.status == TaskStatus.FAILED and task.error:
        text += f" [red]{escape(first_line(task.error))}[/red]"
    return text


def render(node: TaskTreeNode, wide: bool = False, tree: Tree | None = None) -> Tree:
    """A rich tree of the node and its children."""
    label = _label(node.task, wide)
    branch = tree.add(label) if tree is not None else Tree(label)
    for child in node.children:
        render(child, wide, branch)
    return branch


def table(*headers: str, wrap: str = "") -> Table:
    """A borderless table whose cells never wrap (ids and times stay whole), except
    those of the column ``wrap``."""
    columns = (Column(header, no_wrap=header != wrap, overflow="fold") for header in headers)
    return Table(*columns, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)


def to_json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


#: Longest rendering of a value in a table cell (``--full`` or ``--output json``: whole).
CELL_CHARS = 60


def cell(value: Any, full: bool = False) -> str:
    """A value as JSON text, cut to ``CELL_CHARS`` unless ``full``."""
    text = to_json(value)
    return text if full or len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


class LiveRun:
    """Rich progress of a running tree: done/total and elapsed for the tree, and per task
    its state and duration. Fed with the run's stream events."""

    def __init__(self, root: TaskTreeNode, wide: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[state]}"),
        )
        tasks = list(_with_depth(root, 1))
        self.total = self.progress.add_task(
            f"[bold]tree {escape(short_id(root.task.id, wide))}[/bold]",
            total=len(tasks),
            state="",
        )
        self.rows: dict[str, TaskID] = {}
        for node, depth in tasks:
            label = "  " * depth + escape(f"{node.task.name} ({short_id(node.task.id, wide)})")
            self.rows[node.task.id] = self.progress.add_task(
                label, total=1, start=False, state=styled(TaskStatus.PENDING)
            )
        self.finished: set[str] = set()
        # A tree run again (resumed) keeps what it completed before: shown done at once.
        self.observe(
            {"task_id": node.task.id, "type": "status", "status": node.task.status}
            for node, _ in tasks
            if node.task.status == TaskStatus.COMPLETED
        )

    def observe(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            row = self.rows.get(event["task_id"])
            if row is None or event["type"] == "final":
                continue
            status = event["status"]
            if status == TaskStatus.IN_PROGRESS:
                self.progress.start_task(row)
                share = event.get("progress") or 0.0
                self.progress.update(
                    row, completed=share, state=styled(status, f"running {share:.0%}")
                )
            elif status == TaskStatus.WAITING:
                self.progress.update(row, state=styled(status, "waiting for input"))
            elif status in TaskStatus.TERMINAL:
                self.progress.start_task(row)
                self.progress.stop_task(row)
                self.progress.update(row, completed=1, state=styled(status))
                if event["task_id"] not in self.finished:
                    self.finished.add(event["task_id"])
                    self.progress.advance(self.total)
        if len(self.finished) == len(self.rows):
            self.progress.stop_task(self.total)


def _with_depth(node: TaskTreeNode, depth: int) -> Iterator[tuple[TaskTreeNode, int]]:
    yield node, depth
    for child in node.children:
        yield from _with_depth(child, depth + 1)


def _failed(root: TaskTreeNode) -> list[TaskModel]:
    """The failed tasks of a tree, in the order they failed."""
    return sorted(
        (task for task in root.tasks() if task.status == TaskStatus.FAILED),
        key=lambda task: task.completed_at or datetime.max.replace(tzinfo=UTC),
    )


def outcome(summary: Mapping[str, Any], root: TaskTreeNode, wide: bool, seconds: float) -> Group:
    """The end of a run: status, counts and time; the failing tasks with their errors;
    the root's result when it completed."""
    failed = _failed(root)
    lines = [
        f"tree [bold]{escape(short_id(root.task.id, wide))}[/bold]: {styled(summary['status'])}, "
        f"{plural(summary['task_count'], 'task')} in {duration(seconds)}"
        + (f", {len(failed)} failed" if failed else "")
    ]
    for task in failed:
        error = first_line(task.error or "failed")
        kind = f"{task.error_type}: " if task.error_type else ""
        lines.append(
            f"  [red]✗[/red] {escape(task.name)} ({escape(short_id(task.id, wide))}): "
            f"{escape(kind + error)}"
        )
    if summary["status"] == TaskStatus.COMPLETED:
        lines.append(escape(to_json(summary["result"])))
    return Group(*lines)


def outcome_data(summary: Mapping[str, Any], root: TaskTreeNode, seconds: float) -> dict[str, Any]:
    """The end of a run for scripts: the run's summary, its time and the failed tasks."""
    failed = [
        {"id": t.id, "name": t.name, "error": t.error, "error_type": t.error_type}
        for t in _failed(root)
    ]
    return {"type": "outcome", **summary, "seconds": round(seconds, 3), "failed": failed}


def print_lines(items: Iterable[Any]) -> None:
    """Each item as one JSON line, at once (a reader down a pipe follows a run)."""
    for item in items:
        # Plain print: a console would wrap long lines, which breaks JSON lines.
        print(to_json(item), flush=True)


def now() -> float:
    return time.perf_counter()


def print_json(console: Console, value: Any) -> None:
    console.print_json(to_json(value))


class Output(StrEnum):
    """What a command that prints data prints."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table (for people), json (one document) or jsonl (one JSON object a line).",
    ),
]


def emit(console: Console, output: Output, value: Any, items: Iterable[Any] | None = None) -> bool:
    """Print ``value`` as JSON, or ``items`` (default: ``value`` itself) one JSON object
    a line; False when ``output`` is a table, which the command draws itself."""
    if output is Output.JSON:
        print_json(console, value)
    elif output is Output.JSONL:
        print_lines(value if items is None else items)
    return output is not Output.TABLE
