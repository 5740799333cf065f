"""The executor interface: what a task runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

ProgressSink = Callable[[float], None]


class InputRequired(Exception):
    """Raised by ``execute`` to ask for input: the task waits (status ``waiting``) with
    ``prompt`` and ``schema`` recorded, and runs again once
    ``TaskManager.provide_input`` gives the input, found then under ``inputs["input"]``.

    The same as returning ``{"status": "input_required", "prompt": ..., "schema": ...}``.
    """

    def __init__(self, prompt: Any, schema: dict[str, Any] | None = None) -> None:
        super().__init__(prompt)
        self.prompt = prompt
        self.schema = schema


class ExecutableTask(ABC):
    """Interface of every executor: ``id``, ``name``, ``description``, ``execute`` and
    ``get_input_schema``; ``cancel`` is optional.

    ``id``, ``name`` and ``description`` may be plain class attributes in a subclass
    (as in :class:`BaseTask`) or properties.
    """

    @property
    @abstractmethod
    def id(self) -> str:
        """Unique identifier: what ``params.executor_id`` / ``schemas.method`` name."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Display name."""

    @property
    @abstractmethod
    def description(self) -> str:
        """What the executor does."""

    @abstractmethod
    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Do the work; return the result (``{"status": "failed", ...}`` reports a failure)."""

    @abstractmethod
    def get_input_schema(self) -> dict[str, Any]:
        """JSON Schema of the inputs; checked by the runtime before ``execute``."""

    async def cancel(self) -> dict[str, Any] | None:
        """Stop early; may return ``{"partial_result": ..., "token_usage": ...}``.

        Subclasses may make this a plain (sync) method: the runtime accepts both.
        """
        return None


class BaseTask(ExecutableTask):
    """Convenient base for executors: set ``id``, ``name``, ``description``, write ``execute``."""

    id: str = ""
    name: str = ""
    description: str = ""

    def __init__(self, inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.inputs = dict(inputs or {})
        self.kwargs = kwargs
        self._progress_sink: ProgressSink | None = None

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {}}

    def report_progress(self, value: float) -> None:
        """Tell the runtime how far the work is (clamped to 0.0..1.0); no-op when unbound."""
        if self._progress_sink is not None:
            self._progress_sink(min(1.0, max(0.0, float(value))))


def bind_progress_sink(executor: ExecutableTask, sink: ProgressSink) -> None:
    """Route ``executor.report_progress`` to ``sink`` (the runtime calls this before a run).

    Executors that are not :class:`BaseTask` have no ``report_progress``: nothing to bind.
    """
    if isinstance(executor, BaseTask):
        executor._progress_sink = sink
