"""The ``aipartnerupflow`` command line."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Column, Table
from rich.tree import Tree
from sqlalchemy.exc import SQLAlchemyError

from aipartnerupflow.actors.reports import RunSummary, StreamEvent
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.projections.audit import history, rebuild_projections, tree_at
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.creator import TaskCreator
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.session import Database, create_session
from aipartnerupflow.runtime.task_manager import TaskManager

T = TypeVar("T")

# No locals in tracebacks: they would print database passwords and auth secrets.
app = typer.Typer(
    help="Run and inspect event-sourced task trees.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
serve_app = typer.Typer(
    help="Serve the A2A and JSON-RPC APIs over HTTP.", invoke_without_command=True
)
tasks_app = typer.Typer(help="Inspect and control tasks.", no_args_is_help=True)
projections_app = typer.Typer(help="Maintain the projections.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")
app.add_typer(tasks_app, name="tasks")
app.add_typer(projections_app, name="projections")

console = Console()
errors = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="AIPARTNERUPFLOW_DATABASE_URL",
        help="SQLAlchemy URL (default: an SQLite file in the user's data directory).",
    ),
]


class Status(StrEnum):
    """The statuses as a choice for --status (typer validates enum options)."""

    PENDING = TaskStatus.PENDING
    IN_PROGRESS = TaskStatus.IN_PROGRESS
    COMPLETED = TaskStatus.COMPLETED
    FAILED = TaskStatus.FAILED
    CANCELLED = TaskStatus.CANCELLED


STATUS_STYLES = {
    TaskStatus.PENDING: "dim",
    TaskStatus.IN_PROGRESS: "yellow",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "magenta",
}


def _first_line(text: object) -> str:
    return (str(text).splitlines() or [""])[0]


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error in red; the caller raises the returned Exit."""
    errors.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def _session(url: str | None) -> Iterator[Database]:
    """Open the database; bad input (a ValueError) exits 2 with its message."""
    try:
        database = create_session(connection_string=url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise _fail(f"cannot open the database: {_first_line(exc)}") from None
    try:
        yield database
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        database.close()


def with_db(command: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command with an open database (passed as its first argument)."""

    @wraps(command)
    def run(*args: Any, db: str | None = None, **kwargs: Any) -> T:
        with _session(db) as database:
            return asyncio.run(command(database, *args, **kwargs))

    return run


def _styled(status: str, text: str | None = None) -> str:
    style = STATUS_STYLES.get(status, "default")
    return f"[{style}]{escape(text or status)}[/{style}]"


def _label(task: Any) -> str:
    state = task.status
    if task.status == TaskStatus.IN_PROGRESS:
        state += f" {task.progress or 0:.0%}"
    elif task.status == TaskStatus.FAILED and task.error:
        state += f": {_first_line(task.error)}"
    return f"[bold]{escape(task.name)}[/bold] ({escape(task.id)}) {_styled(task.status, state)}"


def render(node: TaskTreeNode, tree: Tree | None = None) -> Tree:
    """A rich tree of the node and its children."""
    branch = tree.add(_label(node.task)) if tree is not None else Tree(_label(node.task))
    for child in node.children:
        render(child, branch)
    return branch


def _table(*headers: str) -> Table:
    """A table whose cells wrap rather than lose characters (ids are copied from it)."""
    return Table(*(Column(header, overflow="fold") for header in headers))


def _print_json(value: Any) -> None:
    console.print_json(
        json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
    )


def _load_tasks(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read tasks from {path}: {exc}") from None
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise _fail(f'{path} must hold a list of tasks or {{"tasks": [...]}}')
    return tasks


async def _run_live(db: Database, tasks: list[Any]) -> RunSummary:
    """Create the tree, run it with a live view, print the outcome."""
    root = await TaskCreator(db).create_task_tree_from_array(tasks)
    nodes = {node.task.id: node for node in root.walk()}

    def observe(events: list[StreamEvent]) -> None:
        for event in events:
            node = nodes.get(event["task_id"])
            if node is not None and event["type"] != "final":
                node.task.status = event["status"]
                node.task.progress = event.get("progress", node.task.progress)
                node.task.error = event.get("error", node.task.error)
        live.update(render(root))

    with Live(render(root), console=console, refresh_per_second=10) as live:
        summary = await TaskManager(db).run_tree(root.task.id, observer=observe)
    console.line()
    console.print(
        f"tree [bold]{escape(root.task.id)}[/bold]: {_styled(summary['status'])}, "
        f"{summary['task_count']} tasks"
    )
    _print_json(summary["result"])
    return summary


def _exit_for(summary: RunSummary) -> None:
    if summary["status"] != TaskStatus.COMPLETED:
        raise typer.Exit(1)


def _tasks_path(file: str, tasks_file: Path | None) -> Path:
    """``run FILE`` or ``run flow --tasks-file FILE``."""
    if file == "flow":
        if tasks_file is None:
            raise _fail("'run flow' needs --tasks-file FILE (for a file named flow: run ./flow)")
        return tasks_file
    if tasks_file is not None:
        raise _fail("give either FILE or 'flow --tasks-file FILE', not both")
    return Path(file)


@app.command("run")
def run_file(
    file: Annotated[str, typer.Argument(help="JSON file of tasks, or 'flow' with --tasks-file.")],
    tasks_file: Annotated[
        Path | None, typer.Option("--tasks-file", help="JSON file of tasks (with 'run flow').")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a tree from a JSON file and run it with a live view; exit 1 unless it completes."""
    _exit_for(with_db(_run_live)(_load_tasks(_tasks_path(file, tasks_file)), db=db))


@app.command()
def demo(db: DbOption = None) -> None:
    """Run a small example tree: an aggregate over cpu and memory figures."""
    tag = uuid.uuid4().hex[:8]
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
    _exit_for(with_db(_run_live)(tasks, db=db))


def _serve(
    db: str | None,
    host: str,
    port: int,
    auth_secret: str | None,
    allow_callback_host: list[str] | None = None,
    public_url: str | None = None,
) -> None:
    from aipartnerupflow.runtime.server import run_server

    with _session(db) as database:
        console.print(f"serving on http://{host}:{port} ({escape(repr(database))})")
        run_server(
            database,
            host=host,
            port=port,
            auth_secret=auth_secret,
            allowed_callback_hosts=allow_callback_host or (),
            public_url=public_url,
        )


HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option(help="Port to listen on.")]
SecretOption = Annotated[
    str | None,
    typer.Option(
        envvar="AIPARTNERUPFLOW_AUTH_SECRET", help="Require HS256 JWTs signed with this secret."
    ),
]

CallbackHostOption = Annotated[
    list[str] | None,
    typer.Option(help="Also let webhooks and push notifications reach this host (repeatable)."),
]
PublicUrlOption = Annotated[
    str | None,
    typer.Option(help="The URL clients reach the server at (the agent card's url)."),
]


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    auth_secret: SecretOption = None,
    db: DbOption = None,
    allow_callback_host: CallbackHostOption = None,
    public_url: PublicUrlOption = None,
) -> None:
    """Serve the A2A and JSON-RPC APIs until interrupted ('serve' or 'serve start')."""
    if ctx.invoked_subcommand is None:
        _serve(db, host, port, auth_secret, allow_callback_host, public_url)


@serve_app.command("start")
def serve_start(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    auth_secret: SecretOption = None,
    db: DbOption = None,
    allow_callback_host: CallbackHostOption = None,
    public_url: PublicUrlOption = None,
) -> None:
    """Serve until interrupted (options may also come before 'start')."""
    # By name: typer may bundle its own click, whose ParameterSource is not click's.
    given = {
        name: value
        for name, value in ctx.params.items()
        if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"
    }
    parent = ctx.parent.params if ctx.parent is not None else {}
    _serve(**{**ctx.params, **parent, **given})


@tasks_app.command("list")
def tasks_list(
    user_id: Annotated[str | None, typer.Option()] = None,
    status: Annotated[Status | None, typer.Option()] = None,
    root_only: Annotated[bool, typer.Option("--root-only", help="Only roots of trees.")] = False,
    limit: Annotated[int, typer.Option(min=0)] = 20,
    db: DbOption = None,
) -> None:
    """List tasks, newest first."""

    async def listing(database: Database) -> None:
        table = _table("id", "name", "status", "progress", "user", "created")
        for task in await TaskRepository(database).list_tasks(
            user_id=user_id, status=status and status.value, root_only=root_only, limit=limit
        ):
            table.add_row(
                escape(task.id),
                escape(task.name),
                _styled(task.status),
                f"{task.progress or 0:.0%}",
                escape(task.user_id or ""),
                task.created_at.isoformat(timespec="seconds"),
            )
        console.print(table)

    with_db(listing)(db=db)


async def _task(database: Database, task_id: str) -> Any:
    task = await TaskRepository(database).get_task_by_id(task_id)
    if task is None:
        raise _fail(f"no task {task_id!r}")
    return task


@tasks_app.command("get")
def tasks_get(task_id: str, db: DbOption = None) -> None:
    """Print a task as JSON."""

    async def get(database: Database) -> None:
        _print_json((await _task(database, task_id)).to_dict())

    with_db(get)(db=db)


@tasks_app.command("tree")
def tasks_tree(task_id: str, db: DbOption = None) -> None:
    """Show the tree below a task."""

    async def show(database: Database) -> None:
        await _task(database, task_id)
        console.print(render(await TaskRepository(database).build_task_tree(task_id)))

    with_db(show)(db=db)


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: str, message: Annotated[str | None, typer.Option()] = None, db: DbOption = None
) -> None:
    """Cancel a task, its descendants and the tasks that require it."""

    async def cancel(database: Database) -> None:
        await _task(database, task_id)
        answer = await TaskManager(database).cancel_task(task_id, message)
        _print_json(answer)
        if answer["status"] != TaskStatus.CANCELLED:
            raise typer.Exit(1)

    with_db(cancel)(db=db)


@tasks_app.command("copy")
def tasks_copy(
    task_id: str, children: Annotated[bool, typer.Option("--children")] = False, db: DbOption = None
) -> None:
    """Copy a task (with --children, its children and their dependencies) as a new tree."""

    async def copy(database: Database) -> None:
        console.print(render(await TaskCreator(database).create_task_copy(task_id, children)))

    with_db(copy)(db=db)


@tasks_app.command("history")
def tasks_history(task_id: str, db: DbOption = None) -> None:
    """Every event of a task: position, type, time, cause, changed fields."""

    async def show(database: Database) -> None:
        table = _table("position", "type", "timestamp", "cause", "changed")
        for entry in await database.run(history, database, task_id):
            changed = (f for f, c in entry["changes"].items() if c.get("old") != c.get("new"))
            table.add_row(
                str(entry["position"]),
                escape(entry["type"]),
                entry["timestamp"].isoformat(timespec="milliseconds"),
                escape(json.dumps(entry["cause"], default=str)) if entry["cause"] else "",
                ", ".join(sorted(changed)),
            )
        console.print(table)

    with_db(show)(db=db)


@tasks_app.command("at")
def tasks_at(
    root_id: str,
    position: Annotated[
        int | None, typer.Option(help="Log position (see 'tasks history').")
    ] = None,
    at: Annotated[datetime | None, typer.Option(help="ISO 8601 time.")] = None,
    db: DbOption = None,
) -> None:
    """Show a tree as it was after a log position (or at a time)."""

    async def show(database: Database) -> None:
        console.print(render(await database.run(tree_at, database, root_id, position, at)))

    with_db(show)(db=db)


@projections_app.command("rebuild")
def projections_rebuild(db: DbOption = None) -> None:
    """Drop the projection tables and rebuild them from the event log."""

    async def rebuild(database: Database) -> None:
        console.print(f"rebuilt {await database.run(rebuild_projections, database)} tasks")

    with_db(rebuild)(db=db)


# Registers more ``tasks`` commands on tasks_app, so it comes after everything it uses.
from aipartnerupflow.runtime.cli import replay as _replay  # noqa: E402, F401  isort: skip


def main() -> None:
    """Entry point of the ``aipartnerupflow`` console script."""
    app(prog_name="aipartnerupflow")


# The commands that load the application's executors; they use the options above.
from aipartnerupflow.runtime.cli import workers  # noqa: E402, F401  isort: skip

if __name__ == "__main__":
    main()
