"""``tasks watch``, ``tasks rerun`` and ``tasks resume``: runs followed live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
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
    show_outcome,
    tasks_app,
)
from aipartnerupflow.runtime.cli.context import command, fail
from aipartnerupflow.runtime.cli.imports import ImportOption, load_executors
from aipartnerupflow.runtime.cli.view import LiveRun, Output, OutputOption, now, print_lines

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


def _quietly(events: list[dict[str, Any]]) -> None:
    """Watching with --output json: only the outcome is printed."""


class _Changes:
    """What the log says each time it is looked at, as JSON lines of the tasks whose
    status or progress changed since the last look."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, float]] = {}

    def observe(self, events: list[dict[str, Any]]) -> None:
        changed = []
        for event in events:
            now_ = (event["status"], event["progress"])
            if self.seen.get(event["task_id"]) != now_:
                self.seen[event["task_id"]] = now_
                changed.append(event)
        print_lines(changed)


@command(tasks_app, "watch")
def tasks_watch(
    task_id: TaskIdArgument, wide: WideOption = False, output: OutputOption = Output.TABLE
) -> None:
    """Follow a run live from the log (started here, by another process or by the server);
    exit with its outcome: 0 when it completed, 1 otherwise. For scripts, --output json
    prints the outcome, jsonl also each change of a task as it is seen."""

    async def watch(database: Database) -> RunSummary:
        from aipartnerupflow.runtime.repository import TaskRepository

        repository = TaskRepository(database)
        task = await _task(database, task_id)
        node = await repository.build_task_tree(task.id)
        started = now()
        view: AbstractContextManager[Any] = nullcontext()
        observe: Callable[[list[dict[str, Any]]], None] = _quietly
        if output is Output.TABLE:
            live = LiveRun(node, wide)
            view, observe = live.progress, live.observe
        elif output is Output.JSONL:
            observe = _Changes().observe
        with view:
            observe(_as_events(node))
            while _still_running(node):
                await asyncio.sleep(WATCH_POLL)
                node = await repository.build_task_tree(task.id)
                observe(_as_events(node))
        summary = _summary(node)
        show_outcome(summary, node, wide, now() - started, output)
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
    output: OutputOption = Output.TABLE,
) -> None:
    """Copy a task with its children (and what they need) as a new tree and run it live
    (--output json or jsonl: the outcome names the task copied, as copy_of)."""
    load_executors(imports)

    async def rerun(database: Database) -> RunSummary:
        from aipartnerupflow.runtime.creator import TaskCreator
        from aipartnerupflow.runtime.task_manager import TaskManager

        task = await _task(database, task_id)
        copy = await TaskCreator(database).create_task_copy(task.id, True)
        if output is Output.TABLE:
            console.print(f"copy [bold]{copy.task.id}[/bold] of {task.id}")
        start = partial(TaskManager(database).run_tree, copy.task.id)
        return await _live(database, copy, wide, start, output, copy_of=task.id)

    _run_followed(rerun)


@command(tasks_app, "resume")
def tasks_resume(
    task_id: TaskIdArgument,
    wide: WideOption = False,
    imports: ImportOption = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Run a tree's failed and cancelled tasks again, in place; completed ones are kept."""
    load_executors(imports)

    async def resume(database: Database) -> RunSummary:
        from aipartnerupflow.runtime.repository import TaskRepository
        from aipartnerupflow.runtime.task_manager import TaskManager

        task = await _task(database, task_id)
        node = await TaskRepository(database).build_task_tree(task.id)
        start = partial(TaskManager(database).resume, task.id)
        return await _live(database, node, wide, start, output)

    _run_followed(resume)
