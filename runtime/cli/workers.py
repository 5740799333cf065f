"""Commands that host the application's own executors: ``worker``, ``recover`` and
``executors list``, each loading executors with ``--import`` and entry points.

Imported by ``app`` once its shared options exist; importing it adds the commands.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from aipartnerupflow.runtime.cli.app import app, console, run_async
from aipartnerupflow.runtime.cli.context import command
from aipartnerupflow.runtime.cli.imports import ImportOption, load_executors
from aipartnerupflow.runtime.cli.logsetup import LogLevel
from aipartnerupflow.runtime.cli.view import Output, OutputOption, emit, plural

if TYPE_CHECKING:
    import asyncio

    from aipartnerupflow.runtime.session import Database


def install_signal_handlers(loop: asyncio.AbstractEventLoop, stop: object) -> None:
    """First SIGINT/SIGTERM calls ``stop`` (a graceful shutdown); a second one ends the
    process at once, without a traceback."""
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        if received > 1:
            os._exit(128 + signum)
        assert callable(stop)
        stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)


executors_app = typer.Typer(help="The executors this process can run.", no_args_is_help=True)
app.add_typer(executors_app, name="executors")


@command(app, "worker", log_level=LogLevel.INFO)
def worker(
    imports: ImportOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Trees run at once by this worker.")] = 4,
    grace: Annotated[
        float,
        typer.Option(help="Seconds running tasks get to finish after SIGTERM/SIGINT."),
    ] = 30.0,
    lease_ttl: Annotated[
        float | None,
        typer.Option(
            help="Seconds a claimed tree stays this worker's without renewal "
            "(default: the library's lease time).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Claim queued and orphaned trees from the database and run them, until stopped."""
    load_executors(imports)

    async def work(database: Database) -> None:
        from aipartnerupflow.runtime.task_manager import TaskManager
        from aipartnerupflow.runtime.worker import Worker

        if lease_ttl is not None:
            database.lease_ttl = lease_ttl
        import asyncio

        loop = asyncio.get_running_loop()
        runner = Worker(TaskManager(database), concurrency=concurrency, grace=grace)
        install_signal_handlers(loop, runner.stop)
        completed = await runner.run()
        typer.echo(f"worker stopped after {plural(completed, 'run')}")

    run_async(True, work)


@command(app, "recover")
def recover(
    imports: ImportOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be resumed; run nothing.")
    ] = False,
) -> None:
    """Resume the trees that stopped mid-run and that no live process owns."""
    load_executors(imports)

    async def resume(database: Database) -> None:
        from aipartnerupflow.runtime.task_manager import TaskManager

        manager = TaskManager(database)
        plan = await manager.recovery_plan()
        for root_task_id, missing in plan.skipped.items():
            typer.echo(f"skipped {root_task_id}: executors not here: {', '.join(missing)}")
        if dry_run:
            for root_task_id in plan.resume:
                typer.echo(f"would resume {root_task_id}")
            return
        summaries = await manager.recover()
        typer.echo(f"resumed {plural(len(summaries), 'tree')}")
        for summary in summaries:
            typer.echo(f"{summary['root_task_id']}: {summary['status']}")

    run_async(False, resume)


@command(executors_app, "list")
def executors_list(imports: ImportOption = None, output: OutputOption = Output.TABLE) -> None:
    """The registered executors and where each comes from."""
    from aipartnerupflow.actors.registry import get_registry

    load_executors(imports)
    registry = get_registry()
    found = []
    for entry in registry.list_executors():
        cls = registry.get_executor_class(entry["id"])
        origin = f"{cls.__module__}.{cls.__qualname__}" if cls is not None else "?"
        found.append({"id": entry["id"], "class": origin})
    if not emit(console, output, found):
        for executor in found:
            typer.echo(f"{executor['id']}\t{executor['class']}")
