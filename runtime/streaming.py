"""StreamingCallbacks: where a run's stream events go (callbacks and async subscribers)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from aipartnerupflow.actors.reports import StreamEvent
from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.streaming")

StreamCallback = Callable[[StreamEvent], Any]


class StreamingCallbacks:
    """Fans out stream events, in commit order, on the application's loop.

    Events are dicts (see ``StreamEvent``) with ``type`` (task_start, progress,
    task_completed, task_failed, task_cancelled, final), ``task_id``, ``root_task_id``,
    ``status``, ``timestamp`` and ``progress``/``result``/``error``. A ``final`` event
    always ends a run.
    """

    def __init__(self) -> None:
        self._callbacks: list[StreamCallback] = []
        self._queues: list[asyncio.Queue[StreamEvent]] = []
        self._pending: set[asyncio.Future[Any]] = set()

    def add_callback(self, callback: StreamCallback) -> StreamCallback:
        """Call ``callback(event)`` (sync or async) for every event; returns it."""
        self._callbacks.append(callback)
        return callback

    def remove_callback(self, callback: StreamCallback) -> None:
        self._callbacks.remove(callback)

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Iterate the events of the next run, up to and including its ``final`` event."""
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                event = await queue.get()
                yield event
                if event["type"] == "final":
                    return
        finally:
            self._queues.remove(queue)

    def emit(self, events: list[StreamEvent], *, use_callbacks: bool = True) -> None:
        """Deliver events (on the loop thread)."""
        for event in events:
            for queue in self._queues:
                queue.put_nowait(event)
            if not use_callbacks:
                continue
            for callback in self._callbacks:
                try:
                    outcome = callback(event)
                except Exception as exc:  # one observer's bug must not starve the others
                    log.warning("stream_callback_failed", error=repr(exc))
                    continue
                if inspect.isawaitable(outcome):
                    future = asyncio.ensure_future(outcome)
                    self._pending.add(future)
                    future.add_done_callback(self._pending.discard)
