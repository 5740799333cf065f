"""``tasks watch``, ``tasks rerun`` and ``tasks resume``: runs followed live."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.runtime.cli.app import (
    TaskIdArgument,
    WideOption,
    _exit_for,
    _live,
    _task,
    console,
    run_async,
    tasks_app,
)
from aipartnerupflow.runtime.cli.context import command, fail
from aipartnerupflow.runtime.cli.imports import ImportOption, load_executors
from aipartnerupflow.runtime.cli.view import LiveRun, now, outcome

if TYPE_CHECKING:
    from aipartnerupflow.actors.reports import RunSummary
    from aipartnerupflow.projections.tree_node import TaskTreeNode
    from aipartnerupflow.runtime.session import Database

#: Seconds between two looks at the log while watching: a person's idea of "live",
#: and cheap for the database (one read of the tree's rows).
WATCH_POLL = 0.25

_INTERRUPTED = "interrupted — resume with `aipartnerupflow recover`"


def _still_running(node: TaskTreeNode) -> bool:
    """Work is left: a task waits to start or is running (waiting for input is an end)."""
    return any(task.status in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS) for task in node.tasks())


def _summary(node: TaskTreeNode) -> RunSummary:
    """What ``run_tree`` would have answered for the tree as it stands."""
    status = node.calculate_status()
    return {
        "status": status,
        "progress": node.calculate_progress(),
        "root_task_id": node.task.id,
        "result": node.task.result if status == TaskStatus.COMPLETED else None,
        "task_count": len(node.tasks()),
    }


def _as_events(node: TaskTreeNode) -> list[dict[str, Any]]:
    return [
        {"task_id": task.id, "type": "status", "status": task.status, "progress": task.progress}
        for task in node.tasks()
    ]


@command(tasks_app, "watch")
def tasks_watch(task_id: TaskIdArgument, wide: WideOption = False) -> None:
    """Follow a run live from the log (started here, by another process or by the server);
    exit with its outcome: 0 when it completed, 1 otherwise."""

    async def watch(database: Database) -> RunSummary:
        from aipartnerupflow.runtime.repository import TaskRepository

        repository = TaskRepository(database)
        task = await _task(database, task_id)
        node = await repository.build_task_tree(task.id)
        view = LiveRun(node, wide)
        started = now()
        with view.progress:
            view.observe(_as_events(node))
            while _still_running(node):
                await asyncio.sleep(WATCH_POLL)
                node = await repository.build_task_tree(task.id)
                view.observe(_as_events(node))
        summary = _summary(node)
        console.print(outcome(summary, node, wide, now() - started))
        return summary

    try:
        summary = run_async(False, watch)
    except KeyboardInterrupt:
        raise fail("stopped watching; the run goes on", code=130) from None
    _exit_for(summary)


def _run_followed(start: Any) -> None:
    """Run ``start(database)`` (a live run); Ctrl-C stops it and leaves it to recover."""
    try:
        summary = run_async(False, start)
    except KeyboardInterrupt:
        raise fail(_INTERRUPTED, code=130) from None
    _exit_for(summary)


@command(tasks_app, "rerun")
def tasks_rerun(
    task_id: TaskIdArgument,
    wide: WideOption = False,
    imports: ImportOption = None,
) -> None:
    """Copy a task with its children (and what they need) as a new tree and run it live."""
    load_executors(imports)

    async def rerun(database: Database) -> RunSummary:
        from aipartnerupflow.runtime.creator import TaskCreator
        from aipartnerupflow.runtime.task_manager import TaskManager

        task = await _task(database, task_id)
        copy = await TaskCreator(database).create_task_copy(task.id, True)
        console.print(f"copy [bold]{copy.task.id}[/bold] of {task.id}")
        start = partial(TaskManager(database).run_tree, copy.task.id)
        return await _live(database, copy, wide, start)

    _run_followed(rerun)


@command(tasks_app, "resume")
def tasks_resume(
    task_id: TaskIdArgument,
    wide: WideOption = False,
    imports: ImportOption = None,
) -> None:
    """Run a tree's failed and cancelled tasks again, in place; completed ones are kept."""
    load_executors(imports)

    async def resume(database: Database) -> RunSummary:
        from aipartnerupflow.runtime.repository import TaskRepository
        from aipartnerupflow.runtime.task_manager import TaskManager

        task = await _task(database, task_id)
        node = await TaskRepository(database).build_task_tree(task.id)
        start = partial(TaskManager(database).resume, task.id)
        return await _live(database, node, wide, start)

    _run_followed(resume)
