"""The ``aipartnerupflow`` command line.

Building the commands imports only typer and the light helpers of this folder: the engine
(SQLAlchemy, the event store, the actors) is imported inside the commands that use it, so
``--help`` and mistyped options answer at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.runtime.cli.context import command, fail, open_db, program_callback
from aipartnerupflow.runtime.cli.imports import ImportOption, load_executors
from aipartnerupflow.runtime.cli.logsetup import LogLevel
from aipartnerupflow.runtime.cli.serve import serve
from aipartnerupflow.runtime.cli.taskfile import TaskFileError, load_tasks, run_tag, with_fresh_ids
from aipartnerupflow.runtime.cli.tokens import TokenError, make_token, parse_ttl
from aipartnerupflow.runtime.cli.view import (
    LiveRun,
    Output,
    OutputOption,
    emit,
    local_time,
    now,
    outcome,
    outcome_data,
    plural,
    print_json,
    print_lines,
    render,
    short_id,
    state,
    table,
    task_duration,
)

if TYPE_CHECKING:
    from aipartnerupflow.actors.reports import RunSummary
    from aipartnerupflow.projections.tree_node import TaskTreeNode
    from aipartnerupflow.runtime.session import Database

T = TypeVar("T")

# No locals in tracebacks: they would print database passwords and auth secrets.
app = typer.Typer(
    help="Run and inspect event-sourced task trees.\n\n"
    "Start with 'aipartnerupflow demo', then 'aipartnerupflow run examples/chain.json'.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
tasks_app = typer.Typer(help="Inspect and control tasks.", no_args_is_help=True)
projections_app = typer.Typer(help="Maintain the projections.", no_args_is_help=True)
app.callback()(program_callback)
app.add_typer(tasks_app, name="tasks")
app.add_typer(projections_app, name="projections")
command(app, "serve", log_level=LogLevel.INFO)(serve)

console = Console()


class Status(StrEnum):
    """The statuses as a choice for --status."""

    PENDING = TaskStatus.PENDING
    IN_PROGRESS = TaskStatus.IN_PROGRESS
    WAITING = TaskStatus.WAITING
    COMPLETED = TaskStatus.COMPLETED
    FAILED = TaskStatus.FAILED
    CANCELLED = TaskStatus.CANCELLED


TaskIdArgument = Annotated[
    str, typer.Argument(help="Id of the task (or the start of it, as 'tasks list' shows it).")
]
WideOption = Annotated[
    bool, typer.Option("--wide", "-w", help="Show whole ids instead of their first characters.")
]


def run_async(create: bool, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` on the database of ``--db`` (created if missing only when ``create``)."""
    import asyncio  # here: building the commands should not load the event loop's modules

    with open_db(create=create) as database:
        return asyncio.run(work(database))


async def _task(database: Database, task_id: str) -> Any:
    from aipartnerupflow.runtime.cli.lookup import find_task

    task = await find_task(database, task_id)
    if task is None:
        raise fail(f"no task {task_id!r}")
    return task


async def _run_live(
    database: Database, tasks: list[Any], wide: bool, output: Output = Output.TABLE
) -> RunSummary:
    """Create the tree, run it with live progress, print the outcome."""
    from aipartnerupflow.runtime.creator import TaskCreator
    from aipartnerupflow.runtime.task_manager import TaskManager

    root = await TaskCreator(database).create_task_tree_from_array(tasks)
    manager = TaskManager(database)
    return await _live(database, root, wide, partial(manager.run_tree, root.task.id), output)


async def _live(
    database: Database,
    root: TaskTreeNode,
    wide: bool,
    start: Callable[..., Coroutine[Any, Any, RunSummary]],
    output: Output = Output.TABLE,
    **about: Any,
) -> RunSummary:
    """Run ``start(observer=...)`` and print the outcome: with live progress of ``root``'s
    tree for a person; for scripts, the outcome as JSON, or every event of the run as a
    JSON line as it happens, then the outcome (``about`` adds to it)."""
    from aipartnerupflow.runtime.repository import TaskRepository

    started = now()
    if output is Output.TABLE:
        view = LiveRun(root, wide)
        with view.progress:
            summary = await start(observer=view.observe)
    else:
        summary = await start(observer=print_lines if output is Output.JSONL else None)
    finished = await TaskRepository(database).build_task_tree(root.task.id)
    show_outcome(summary, finished, wide, now() - started, output, **about)
    return summary


def show_outcome(
    summary: RunSummary,
    root: TaskTreeNode,
    wide: bool,
    seconds: float,
    output: Output,
    **about: Any,
) -> None:
    """The end of a run, for a person or (``output``) for scripts."""
    data = {**outcome_data(summary, root, seconds), **about}
    if not emit(console, output, data, [data]):
        console.print(outcome(summary, root, wide, seconds))


def _exit_for(summary: RunSummary) -> None:
    if summary["status"] != TaskStatus.COMPLETED:
        raise typer.Exit(1)


def _source(file: str, tasks_file: str | None) -> str:
    """``run FILE`` or ``run flow --tasks-file FILE``."""
    if file == "flow":
        if tasks_file is None:
            raise fail("'run flow' needs --tasks-file FILE (for a file named flow: run ./flow)")
        return tasks_file
    if tasks_file is not None:
        raise fail("give either FILE or 'flow --tasks-file FILE', not both")
    return file


@command(app, "run")
def run_file(
    file: Annotated[
        str,
        typer.Argument(
            help="JSON file of tasks (a list, or {\"tasks\": [...]}); '-' reads standard "
            "input; 'flow' takes the file from --tasks-file.",
            show_default=False,
        ),
    ],
    tasks_file: Annotated[
        str | None, typer.Option("--tasks-file", help="JSON file of tasks (with 'run flow').")
    ] = None,
    keep_ids: Annotated[
        bool,
        typer.Option(
            "--keep-ids",
            help="Create the tasks with the file's ids as they are (then the file runs once).",
        ),
    ] = False,
    wide: WideOption = False,
    imports: ImportOption = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Create a tree from a JSON file and run it with live progress; exit 1 unless it completes.

    Each run gets fresh ids: a random suffix is added to the file's ids (and to the
    references to them), so the same file runs again and again."""
    try:
        tasks = load_tasks(_source(file, tasks_file))
    except TaskFileError as exc:
        raise fail(str(exc)) from None
    if not keep_ids:
        tasks = with_fresh_ids(tasks, run_tag())
    load_executors(imports)
    try:
        summary = run_async(True, lambda database: _run_live(database, tasks, wide, output))
    except KeyboardInterrupt:
        # The run was stopped with nothing more recorded and its tree queued again.
        raise fail("interrupted — resume with `aipartnerupflow recover`", code=130) from None
    _exit_for(summary)


@command(app, "demo")
def demo(wide: WideOption = False) -> None:
    """Run a small example tree: an aggregate over cpu and memory figures of this machine."""
    tag = uuid.uuid4().hex[:6]
    tasks = [
        {
            "id": f"demo-{tag}",
            "name": "aggregate_results_executor",
            "user_id": "demo",
            "dependencies": [f"cpu-{tag}", f"memory-{tag}"],
        },
        {
            "id": f"cpu-{tag}",
            "name": "system_info_executor",
            "parent_id": f"demo-{tag}",
            "inputs": {"resource": "cpu"},
        },
        {
            "id": f"memory-{tag}",
            "name": "system_info_executor",
            "parent_id": f"demo-{tag}",
            "inputs": {"resource": "memory"},
        },
    ]
    _exit_for(run_async(True, lambda database: _run_live(database, tasks, wide)))


@command(app, "token")
def token(
    user: Annotated[
        str, typer.Option("--user", help="The user the token speaks for (its subject).")
    ],
    secret: Annotated[
        str,
        typer.Option(
            "--secret",
            envvar="AIPARTNERUPFLOW_AUTH_SECRET",
            show_envvar=True,
            help="The server's --auth-secret (at least 32 bytes).",
            show_default=False,
        ),
    ],
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", help="Lifetime: seconds, or a number with s, m, h or d (1h, 7d)."),
    ] = None,
    no_expiry: Annotated[
        bool,
        typer.Option("--no-expiry", help="Issue a token that never expires (instead of --ttl)."),
    ] = False,
) -> None:
    """Print a bearer token (HS256 JWT) for a server started with --auth-secret."""
    if (ttl is None) == (not no_expiry):
        raise fail("give --ttl (such as --ttl 1h), or --no-expiry for a token that never expires")
    try:
        print(make_token(secret, user, None if no_expiry else parse_ttl(ttl or "")))
    except TokenError as exc:
        raise fail(str(exc)) from None


@command(tasks_app, "list")
def tasks_list(
    user_id: Annotated[
        str | None, typer.Option("--user-id", help="Only tasks of this user.")
    ] = None,
    status: Annotated[
        Status | None,
        typer.Option("--status", case_sensitive=False, help="Only tasks in this status."),
    ] = None,
    root_only: Annotated[bool, typer.Option("--root-only", help="Only roots of trees.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most this many.")] = 20,
    ids: Annotated[
        bool, typer.Option("--ids", help="Print only the (whole) ids, one a line.")
    ] = False,
    wide: WideOption = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """List tasks, newest first."""

    async def listing(database: Database) -> None:
        from aipartnerupflow.runtime.repository import TaskRepository

        found = await TaskRepository(database).list_tasks(
            user_id=user_id, status=status and status.value, root_only=root_only, limit=limit
        )
        if ids:
            for task in found:
                print(task.id)
            return
        if emit(console, output, [task.to_dict() for task in found]):
            return
        rows = table("id", "name", "status", "user", "created", "took", wrap="name")
        for task in found:
            rows.add_row(
                escape(short_id(task.id, wide)),
                escape(task.name),
                state(task),
                escape(task.user_id or ""),
                local_time(task.created_at),
                task_duration(task),
            )
        if found:
            console.print(rows)
        console.print(
            plural(len(found), "task") + (f" (at most {limit})" if len(found) == limit else "")
        )

    run_async(False, listing)


@command(tasks_app, "get")
def tasks_get(
    task_id: TaskIdArgument,
    traceback: Annotated[
        bool,
        typer.Option("--traceback", help="Print where its latest failure was raised instead."),
    ] = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Print a task as JSON (--output jsonl: on one line), or its latest traceback."""

    async def get(database: Database) -> None:
        task = await _task(database, task_id)
        if not traceback:
            if not emit(console, output, task.to_dict(), [task.to_dict()]):
                print_json(console, task.to_dict())
            return
        from aipartnerupflow.projections.audit import history
        from aipartnerupflow.projections.readable import last_traceback

        trace = last_traceback(await database.run(history, database, task.id))
        if trace is None:
            raise fail(f"task {task.id} has no recorded traceback (status {task.status})", 1)
        if not emit(console, output, {"task_id": task.id, "traceback": trace}, None):
            print(trace, end="")

    run_async(False, get)


def _show_tree(node: Any, wide: bool, output: Output) -> None:
    """A tree drawn for people, or its tasks as JSON (nested) or JSON lines (flat)."""
    if not emit(console, output, node.to_dict(), (n.task.to_dict() for n in node.walk())):
        console.print(render(node, wide))


@command(tasks_app, "tree")
def tasks_tree(
    task_id: TaskIdArgument, wide: WideOption = False, output: OutputOption = Output.TABLE
) -> None:
    """Show the tree below a task."""

    async def show(database: Database) -> None:
        from aipartnerupflow.runtime.repository import TaskRepository

        task = await _task(database, task_id)
        _show_tree(await TaskRepository(database).build_task_tree(task.id), wide, output)

    run_async(False, show)


@command(tasks_app, "cancel")
def tasks_cancel(
    task_id: TaskIdArgument,
    message: Annotated[
        str | None, typer.Option("--message", help="Why: recorded as the tasks' error.")
    ] = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Cancel a task, its descendants and the tasks that require it; print the answer as
    JSON (--output jsonl: on one line); exit 1 if it had ended."""

    async def cancel(database: Database) -> None:
        from aipartnerupflow.runtime.task_manager import TaskManager

        task = await _task(database, task_id)
        answer = await TaskManager(database).cancel_task(task.id, message)
        if not emit(console, output, answer, [answer]):
            print_json(console, answer)
        if answer["status"] != TaskStatus.CANCELLED:
            raise typer.Exit(1)

    run_async(False, cancel)


@command(tasks_app, "copy")
def tasks_copy(
    task_id: TaskIdArgument,
    children: Annotated[
        bool, typer.Option("--children", help="Also copy its children and their dependencies.")
    ] = False,
    wide: WideOption = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Copy a task as a new pending tree (run it with 'tasks' tools or the server)."""

    async def copy(database: Database) -> None:
        from aipartnerupflow.runtime.creator import TaskCreator

        task = await _task(database, task_id)
        _show_tree(await TaskCreator(database).create_task_copy(task.id, children), wide, output)

    run_async(False, copy)


@command(tasks_app, "history")
def tasks_history(
    task_id: TaskIdArgument,
    tree: Annotated[
        bool, typer.Option("--tree", help="The whole tree the task belongs to, not just it.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Values and tracebacks whole, not cut short.")
    ] = False,
    wide: WideOption = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """What happened, event by event: old -> new values, attempts, how long each ran, who
    or what caused it; progress ticks are folded into one line."""

    async def show(database: Database) -> None:
        from aipartnerupflow.projections.audit import history
        from aipartnerupflow.projections.readable import readable_history
        from aipartnerupflow.runtime.cli.history import history_lines

        task = await _task(database, task_id)
        if tree:
            entries = await database.run(history, database, None, str(task.tree_id))
        else:
            entries = await database.run(history, database, task.id)
        lines = readable_history(entries)
        if not emit(console, output, lines):
            # A log: long lines are left whole (the terminal wraps them), never cut or folded.
            console.print(history_lines(lines, tree=tree, wide=wide, full=full), soft_wrap=True)

    run_async(False, show)


@command(tasks_app, "at")
def tasks_at(
    root_id: Annotated[
        str, typer.Argument(help="Id of the tree's root (or of any task: its subtree).")
    ],
    position: Annotated[
        int | None, typer.Option("--position", help="Log position (see 'tasks history').")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="A time, ISO 8601 (2025-01-31T12:00); UTC unless it names a zone."
        ),
    ] = None,
    wide: WideOption = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Show a tree as it was after a log position (or at a time), rebuilt from the log."""
    from aipartnerupflow.runtime.cli.replay import parse_time

    when = parse_time(at)

    async def show(database: Database) -> None:
        from aipartnerupflow.errors import TaskNotFoundError
        from aipartnerupflow.projections.audit import history, tree_at

        task = await _task(database, root_id)
        try:
            node = await database.run(tree_at, database, task.id, position, when)
        except TaskNotFoundError:
            first = (await database.run(history, database, task.id))[0]
            later = (position is not None and position < first["position"]) or (
                when is not None and when < first["timestamp"]
            )
            if not later:
                raise  # it existed by then, and was deleted
            raise fail(
                f"task {task.id} was created later, at position {first['position']} "
                f"({local_time(first['timestamp'])})",
                1,
            ) from None
        _show_tree(node, wide, output)

    run_async(False, show)


@command(projections_app, "rebuild")
def projections_rebuild() -> None:
    """Drop the projection tables and rebuild them from the event log."""

    async def rebuild(database: Database) -> None:
        from aipartnerupflow.projections.audit import rebuild_projections

        count = await database.run(rebuild_projections, database)
        console.print(f"rebuilt {plural(count, 'task')}")

    run_async(False, rebuild)


# More commands: replay debugging, and those that load the application's executors
# (worker, recover, executors list). They use what is defined above.
from aipartnerupflow.runtime.cli import replay as _replay  # noqa: E402, F401  isort: skip
from aipartnerupflow.runtime.cli import workers as _workers  # noqa: E402, F401  isort: skip
from aipartnerupflow.runtime.cli import follow as _follow  # noqa: E402, F401  isort: skip


def main() -> None:
    """Entry point of the ``aipartnerupflow`` console script."""
    app(prog_name="aipartnerupflow")


if __name__ == "__main__":
    main()
