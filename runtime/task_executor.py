"""TaskExecutor: the process-wide entry point that creates a tree from an array and runs it."""

from __future__ import annotations

import threading
from typing import Any

from aipartnerupflow.actors.reports import RunSummary
from aipartnerupflow.runtime.creator import TaskCreator
from aipartnerupflow.runtime.session import Database, get_default_session
from aipartnerupflow.runtime.streaming import StreamCallback
from aipartnerupflow.runtime.task_manager import TaskManager


class TaskExecutor:
    """Singleton: ``TaskExecutor() is TaskExecutor()``."""

    _instance: TaskExecutor | None = None
    _lock = threading.Lock()

    def __new__(cls) -> TaskExecutor:
        with cls._lock:
            if cls._instance is None:
                cls._instance = super().__new__(cls)
            return cls._instance

    async def execute_tasks(
        self,
        tasks: list[dict[str, Any]],
        root_task_id: str | None = None,
        use_streaming: bool = False,
        *,
        db: Database | None = None,
        streaming_callback: StreamCallback | None = None,
    ) -> RunSummary:
        """Create the tree from ``tasks`` (all or nothing) and run it to the end.

        Returns ``{"status", "progress", "root_task_id", "result", "task_count"}``: the
        tree's derived status and the real root id (``root_task_id`` is accepted as 0.9.0
        did and not used). With ``use_streaming``, ``streaming_callback`` gets every event.
        """
        database = db or get_default_session()
        tree = await TaskCreator(database).create_task_tree_from_array(tasks)
        manager = TaskManager(database)
        observer = None
        if use_streaming:
            if streaming_callback is not None:
                manager.streaming_callbacks.add_callback(streaming_callback)
            observer = manager.streaming_callbacks.emit
        return await manager.run_tree(tree.task.id, observer=observer)
