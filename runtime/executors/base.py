"""The executor interface: what a task runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

ProgressSink = Callable[[float], None]


class ExecutableTask(ABC):
    """Interface of every executor: ``id``, ``name``, ``description``, ``execute`` and
    ``get_input_schema``; ``cancel`` is optional."""

    id: str
    name: str
    description: str = ""

    @abstractmethod
    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Do the work; return the result (``{"status": "failed", ...}`` reports a failure)."""

    @abstractmethod
    def get_input_schema(self) -> dict[str, Any]:
        """JSON Schema of the inputs; required fields are checked before ``execute``."""

    async def cancel(self) -> dict[str, Any] | None:
        """Stop early; may return ``{"partial_result": ..., "token_usage": ...}``."""
        return None


class BaseTask(ExecutableTask):
    """Convenient base for executors: set ``id``, ``name``, ``description``, write ``execute``."""

    id = ""
    name = ""
    description = ""

    def __init__(self, inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.inputs = dict(inputs or {})
        self.options = kwargs
        self._progress_sink: ProgressSink | None = None

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {}}

    def report_progress(self, value: float) -> None:
        """Tell the runtime how far the work is (0.0 to 1.0); recorded as a progress event."""
        if self._progress_sink is not None:
            self._progress_sink(min(1.0, max(0.0, float(value))))


def bind_progress_sink(executor: ExecutableTask, sink: ProgressSink) -> None:
    """Route ``report_progress`` of ``executor`` (when it has one) to ``sink``."""
    if isinstance(executor, BaseTask):
        executor._progress_sink = sink
