"""LoopBridge: a running tree's jobs on the application's asyncio loop.

Executors are coroutines of the application's loop, so the supervisor hands its jobs
straight to that loop (``call_soon_threadsafe``); no thread sits in between. Each job
runs as an asyncio task, and outcomes go back to the supervisor once per loop iteration,
so its inbox sees batches, not single results. Every method runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from aipartnerupflow.actors.job import JobRunner
from aipartnerupflow.actors.messages import Job, Outcome
from aipartnerupflow.events.domain.status import TaskStatus


class LoopBridge:
    """The running jobs of one tree, keyed by task id."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        runner: JobRunner,
        report: Callable[[list[Outcome]], None],
    ) -> None:
        self.loop = loop
        self.runner = runner
        self.report = report
        self.handles: dict[str, asyncio.Task[Outcome]] = {}
        self._outbox: list[Outcome] = []

    def start(self, jobs: list[Job]) -> None:
        """Run each job as an asyncio task (their starts are already committed)."""
        for job in jobs:
            task_id = job.task.id
            handle = self.loop.create_task(self.runner.run(job), name=f"task:{task_id}")
            self.handles[task_id] = handle
            handle.add_done_callback(partial(self._finished, task_id))

    def _finished(self, task_id: str, handle: asyncio.Task[Outcome]) -> None:
        self.handles.pop(task_id, None)
        # A job cancelled before its first step never reached its own except clause.
        outcome = (
            Outcome(task_id, TaskStatus.CANCELLED, error="cancelled")
            if handle.cancelled()
            else handle.result()
        )
        if not self._outbox:
            self.loop.call_soon(self._flush)
        self._outbox.append(outcome)

    def _flush(self) -> None:
        outcomes, self._outbox = self._outbox, []
        self.report(outcomes)

    def ask_reports(self, task_ids: list[str], reported: Callable[[dict[str, Any]], None]) -> None:
        """Ask each executor for its partial result (its ``cancel()``), then hand them to
        ``reported``; ``{}`` when the loop shuts down first. The jobs go on running until
        ``stop``: the supervisor stops them once their cancel is recorded."""

        async def collect() -> None:
            try:
                reports = await self._reports(task_ids)
            except BaseException:
                reported({})
                raise
            reported(reports)

        self.loop.create_task(collect())

    async def _reports(self, task_ids: list[str]) -> dict[str, Any]:
        reports: dict[str, Any] = {}
        for task_id in task_ids:
            executor = self.runner.instances.get(task_id)
            cancel = getattr(executor, "cancel", None)
            if cancel is None:
                continue
            try:
                report = cancel()
                reports[task_id] = await report if inspect.isawaitable(report) else report
            except Exception as exc:  # a failing cancel() must not stop the cancel
                reports[task_id] = {"cancel_error": f"{type(exc).__name__}: {exc}"}
        return reports

    def stop(self, task_ids: list[str]) -> None:
        """Stop the jobs of these tasks (their executors' coroutines)."""
        for task_id in task_ids:
            handle = self.handles.get(task_id)
            if handle is not None:
                handle.cancel()

    def stop_all(self) -> None:
        """Stop every running job without a word to its executor (the tree's run is over)."""
        for handle in list(self.handles.values()):
            handle.cancel()
