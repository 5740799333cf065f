"""TaskActor: a lane of a running tree that hands its tasks to the asyncio loop.

A supervisor keeps a small pool of these (never one per task of a large tree: each pykka
actor is a thread). The loop side (``LoopBridge``) runs each job as an asyncio task and
reports outcomes to the supervisor once per loop iteration, so the supervisor's inbox
sees batches, not single results.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import pykka

from aipartnerupflow.actors.job import JobRunner
from aipartnerupflow.actors.messages import CancelJobs, Job, Outcome, RunJobs
from aipartnerupflow.events.domain.status import TaskStatus


class LoopBridge:
    """Loop-side state of one tree's running jobs; its methods run on the loop thread."""

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

    async def cancel(self, task_ids: list[str]) -> dict[str, Any]:
        """Ask each executor for its partial result, then stop its coroutine."""
        reports: dict[str, Any] = {}
        for task_id in task_ids:
            executor = self.runner.instances.get(task_id)
            cancel = getattr(executor, "cancel", None)
            if cancel is not None:
                try:
                    report = cancel()
                    reports[task_id] = await report if inspect.isawaitable(report) else report
                except Exception as exc:  # a failing cancel() must not stop the cancel
                    reports[task_id] = {"cancel_error": f"{type(exc).__name__}: {exc}"}
            handle = self.handles.get(task_id)
            if handle is not None:
                handle.cancel()
        return reports


class TaskActor(pykka.ThreadingActor):
    """Relays jobs and cancellations between the supervisor's thread and the loop."""

    use_daemon_thread = True  # an interpreter exit never waits on it

    def __init__(self, bridge: LoopBridge) -> None:
        super().__init__()
        self.bridge = bridge

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, RunJobs):
            self.bridge.loop.call_soon_threadsafe(self.bridge.start, message.jobs)
        elif isinstance(message, CancelJobs):
            future = asyncio.run_coroutine_threadsafe(
                self.bridge.cancel(message.task_ids), self.bridge.loop
            )
            future.add_done_callback(lambda done: message.reply(done.result()))
        return None
