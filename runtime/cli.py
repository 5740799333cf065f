"""The ``aipartnerupflow`` command line."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.tree import Tree

from ..events.status import TaskStatus
from ..projections.audit import history, rebuild_projections, tree_at
from ..projections.tree_node import TaskTreeNode
from .creator import TaskCreator
from .repository import TaskRepository
from .session import Database, create_session
from .task_manager import TaskManager

T = TypeVar("T")

app = typer.Typer(help="Run and inspect event-sourced task trees.", no_args_is_help=True)
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
STATUS_STYLES = {
    TaskStatus.PENDING: "dim",
    TaskStatus.IN_PROGRESS: "yellow",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "magenta",
}


def _open(url: str | None) -> Database:
    return create_session(connection_string=url) if url else create_session()


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def with_db(command: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command with an open database; bad input exits 2 with its message."""

    @wraps(command)
    def run(*args: Any, db: str | None = None, **kwargs: Any) -> T:
        database = _open(db)
        try:
            return asyncio.run(command(database, *args, **kwargs))
        except ValueError as exc:
            raise _fail(str(exc)) from None
        finally:
            database.close()

    return run


def _label(task: Any) -> str:
    style = STATUS_STYLES.get(task.status, "")
    progress = f" {task.progress:.0%}" if task.status == TaskStatus.IN_PROGRESS else ""
    return f"[bold]{task.name}[/bold] ({task.id}) [{style}]{task.status}{progress}[/{style}]"


def render(node: TaskTreeNode, tree: Tree | None = None) -> Tree:
    """A rich tree of the node and its children."""
    branch = tree.add(_label(node.task)) if tree is not None else Tree(_label(node.task))
    for child in node.children:
        render(child, branch)
    return branch


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


async def _run_live(db: Database, tasks: list[Any]) -> dict[str, Any]:
    """Create the tree, run it with a live view, print the outcome."""
    root = await TaskCreator(db).create_task_tree_from_array(tasks)
    nodes = {node.task.id: node for node in root.walk()}

    def observe(events: list[dict[str, Any]]) -> None:
        for event in events:
            node = nodes.get(event["task_id"])
            if node is not None and event["type"] != "final":
                node.task.status = event["status"]
                node.task.progress = event.get("progress", node.task.progress)
        live.update(render(root))

    with Live(render(root), console=console, refresh_per_second=10) as live:
        summary = await TaskManager(db).run_tree(root.task.id, observer=observe)
    console.line()
    style = STATUS_STYLES[summary["status"]]
    console.print(
        f"tree [bold]{root.task.id}[/bold]: [{style}]{summary['status']}[/{style}], "
        f"{summary['task_count']} tasks"
    )
    _print_json(summary["result"])
    return summary


def _exit_for(summary: dict[str, Any]) -> None:
    if summary["status"] != TaskStatus.COMPLETED:
        raise typer.Exit(1)


@app.command("run")
def run_file(
    file: Annotated[str, typer.Argument(help="JSON file of tasks (or 'flow' with --tasks-file)")],
    tasks_file: Annotated[Path | None, typer.Option("--tasks-file")] = None,
    db: DbOption = None,
) -> None:
    """Create a tree from a JSON file and run it with a live view (exit 1 unless it
    completes). ``run flow --tasks-file FILE`` is the same as ``run FILE``."""
    path = tasks_file if file == "flow" and tasks_file is not None else Path(file)
    _exit_for(with_db(_run_live)(_load_tasks(path), db=db))


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


def _serve(db: str | None, host: str, port: int, auth_secret: str | None) -> None:
    from .server import run_server

    database = _open(db)
    try:
        console.print(f"serving on http://{host}:{port} ({database})")
        run_server(database, host=host, port=port, auth_secret=auth_secret)
    finally:
        database.close()


HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option(help="Port to listen on.")]
SecretOption = Annotated[
    str | None,
    typer.Option(
        envvar="AIPARTNERUPFLOW_AUTH_SECRET", help="Require HS256 JWTs signed with this secret."
    ),
]


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    auth_secret: SecretOption = None,
    db: DbOption = None,
) -> None:
    """Serve until interrupted (``serve`` or ``serve start``)."""
    if ctx.invoked_subcommand is None:
        _serve(db, host, port, auth_secret)


@serve_app.command("start")
def serve_start(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    auth_secret: SecretOption = None,
    db: DbOption = None,
) -> None:
    """Serve until interrupted."""
    _serve(db, host, port, auth_secret)


@tasks_app.command("list")
def tasks_list(
    user_id: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
    root_only: Annotated[bool, typer.Option("--root-only")] = False,
    limit: Annotated[int, typer.Option()] = 20,
    db: DbOption = None,
) -> None:
    """List tasks, newest first."""

    async def listing(database: Database) -> None:
        table = Table("id", "name", "status", "progress", "user", "created")
        for task in await TaskRepository(database).list_tasks(
            user_id=user_id, status=status, root_only=root_only, limit=limit
        ):
            table.add_row(
                task.id,
                task.name,
                task.status,
                f"{task.progress:.0%}",
                task.user_id or "",
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
        table = Table("position", "type", "timestamp", "cause", "changed")
        for entry in await database.run(history, database, task_id):
            table.add_row(
                str(entry["position"]),
                entry["type"],
                entry["timestamp"].isoformat(timespec="milliseconds"),
                json.dumps(entry["cause"]),
                ", ".join(sorted(entry["changes"])),
            )
        console.print(table)

    with_db(show)(db=db)


@tasks_app.command("at")
def tasks_at(
    root_id: str,
    position: Annotated[int | None, typer.Option()] = None,
    at: Annotated[datetime | None, typer.Option(help="ISO 8601 time")] = None,
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


@app.command()
def recover(db: DbOption = None) -> None:
    """Resume every tree that was interrupted mid-run."""

    async def resume(database: Database) -> None:
        summaries = await TaskManager(database).recover()
        console.print(f"resumed {len(summaries)} tree(s)")
        for summary in summaries:
            _print_json(summary)

    with_db(resume)(db=db)


def main() -> None:
    """Entry point of the ``aipartnerupflow`` console script."""
    app(prog_name="aipartnerupflow")


if __name__ == "__main__":
    main()
