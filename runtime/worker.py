"""A worker process: claims queued and orphaned trees from the shared log and runs them.

Any number of workers, on any number of hosts, may share one database: each tree is
claimed by one of them at a time (see ``events.store.leases``). A worker that dies loses
its trees to the others once its leases expire; one that is asked to stop (``stop()``,
SIGTERM, SIGINT) claims nothing more, lets running tasks finish for a grace period, then
interrupts the rest and hands their trees back to the queue at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID

from aipartnerupflow.events.store.leases import Lease
from aipartnerupflow.logs import get_logger
from aipartnerupflow.runtime.task_manager import TaskManager

log = get_logger("aipartnerupflow.worker")


class Worker:
    """Runs up to ``concurrency`` claimed trees at once until stopped."""

    def __init__(
        self,
        manager: TaskManager,
        *,
        concurrency: int = 4,
        poll: float = 0.5,
        grace: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, got {concurrency}")
        self.manager = manager
        self.concurrency = concurrency
        self.poll = poll
        self.grace = grace
        self.completed = 0
        #: Each run this worker started, with the id of the tree it runs.
        self._runs: dict[asyncio.Task[Any], UUID] = {}
        self._stopping: asyncio.Event | None = None
        self._skipped: set[Any] = set()

    def stop(self) -> None:
        """Claim nothing more; running trees get the grace period (call on the loop)."""
        if self._stopping is not None:
            self._stopping.set()

    async def run(self) -> int:
        """Claim and run trees until ``stop()``; returns how many runs ended meanwhile."""
        self._stopping = asyncio.Event()
        log.info(
            "worker_started", owner=self.manager.db.ownership.owner, concurrency=self.concurrency
        )
        while not self._stopping.is_set():
            free = self.concurrency - len(self._runs)
            if free > 0:
                for lease in await self.manager.claim(free, skip=self._skipped):
                    self._start(lease)
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait(
                [stopping, *self._runs], timeout=self.poll, return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
        await self._drain()
        log.info("worker_stopped", completed=self.completed)
        return self.completed

    def _start(self, lease: Lease) -> None:
        run = asyncio.ensure_future(self.manager.run_tree(lease.root_task_id, lease=lease))
        self._runs[run] = lease.tree_id
        run.add_done_callback(self._ended)

    def _ended(self, run: asyncio.Task[Any]) -> None:
        self._runs.pop(run, None)
        if run.cancelled():
            return
        if run.exception() is not None:
            log.warning("run_failed", error=repr(run.exception()))
        self.completed += 1

    async def _drain(self) -> None:
        if not self._runs:
            return
        _, late = await asyncio.wait(list(self._runs), timeout=self.grace)
        if late:
            log.info("interrupting", trees=len(late))
            # Only this worker's runs: the manager may run other trees too (the server's).
            await self.manager.interrupt([self._runs[run] for run in late])
            with contextlib.suppress(Exception):
                await asyncio.gather(*late, return_exceptions=True)
