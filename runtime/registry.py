"""The extension registry: executors by id, global hooks, and per-executor hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..projections.models import TaskModel
    from .executors.base import ExecutableTask

#: ``hook(task)`` before a task runs; may change ``task.inputs``; may be async.
TaskPreHook = Callable[["TaskModel"], Any]
#: ``hook(task, inputs, result)`` after a task ran; may be async.
TaskPostHook = Callable[["TaskModel", dict[str, Any], Any], Any]
#: Per-executor pre-hook ``hook(task, inputs)``: a non-None return replaces ``execute``.
ExecutorPreHook = Callable[["TaskModel", dict[str, Any]], Any]

E = TypeVar("E")


@dataclass(frozen=True)
class _Entry:
    factory: type[ExecutableTask] | ExecutableTask
    pre_hook: ExecutorPreHook | None
    post_hook: TaskPostHook | None


class ExtensionRegistry:
    """Executors registered by id, plus the hooks every run calls."""

    def __init__(self) -> None:
        self._executors: dict[str, _Entry] = {}
        self._pre_hooks: list[TaskPreHook] = []
        self._post_hooks: list[TaskPostHook] = []
        self._lock = threading.Lock()

    def register_executor(
        self,
        executor: type[ExecutableTask] | ExecutableTask,
        *,
        executor_id: str | None = None,
        pre_hook: ExecutorPreHook | None = None,
        post_hook: TaskPostHook | None = None,
    ) -> None:
        """Register a class (a fresh instance per run) or an instance (shared by runs)."""
        key = executor_id or getattr(executor, "id", None)
        if not isinstance(key, str) or not key:
            raise ValueError(f"executor {executor!r} needs a non-empty string id")
        with self._lock:
            self._executors[key] = _Entry(executor, pre_hook, post_hook)

    def unregister_executor(self, executor_id: str) -> None:
        with self._lock:
            self._executors.pop(executor_id, None)

    def has_executor(self, executor_id: str) -> bool:
        return executor_id in self._executors

    def create_executor(
        self, executor_id: str, inputs: dict[str, Any] | None = None
    ) -> ExecutableTask | None:
        """The executor to run for one task, or None when nothing has that id."""
        entry = self._executors.get(executor_id)
        if entry is None:
            return None
        if isinstance(entry.factory, type):
            return entry.factory(inputs=inputs)  # type: ignore[call-arg]
        return entry.factory

    def executor_hooks(
        self, executor_id: str
    ) -> tuple[ExecutorPreHook | None, TaskPostHook | None]:
        entry = self._executors.get(executor_id)
        return (None, None) if entry is None else (entry.pre_hook, entry.post_hook)

    def list_executors(self) -> list[dict[str, Any]]:
        """id, name and description of every executor."""
        return [
            {
                "id": key,
                "name": getattr(entry.factory, "name", key),
                "description": getattr(entry.factory, "description", ""),
            }
            for key, entry in sorted(self._executors.items())
        ]

    def register_pre_hook(self, hook: TaskPreHook) -> TaskPreHook:
        with self._lock:
            self._pre_hooks.append(hook)
        return hook

    def register_post_hook(self, hook: TaskPostHook) -> TaskPostHook:
        with self._lock:
            self._post_hooks.append(hook)
        return hook

    @property
    def pre_hooks(self) -> list[TaskPreHook]:
        return list(self._pre_hooks)

    @property
    def post_hooks(self) -> list[TaskPostHook]:
        return list(self._post_hooks)

    def clear_hooks(self) -> None:
        with self._lock:
            self._pre_hooks.clear()
            self._post_hooks.clear()


def resolve_executor_id(task: Any, registry: ExtensionRegistry) -> tuple[str | None, bool]:
    """Which executor runs ``task``, and whether it is registered.

    ``params["executor_id"]``, else ``schemas["method"]``, else the task's name. The first
    one given is the choice (so a typo in ``executor_id`` fails rather than silently
    running something else); the name counts only when no id or method is given.
    """
    chosen = (task.params or {}).get("executor_id") or (task.schemas or {}).get("method")
    if chosen is None:
        chosen = task.name
    return chosen, registry.has_executor(chosen)


_registry = ExtensionRegistry()


def get_registry() -> ExtensionRegistry:
    """The process-wide registry."""
    return _registry


def executor_register(
    pre_hook: ExecutorPreHook | None = None,
    post_hook: TaskPostHook | None = None,
    executor_id: str | None = None,
) -> Callable[[E], E]:
    """Class decorator: register the executor under its ``id`` (or ``executor_id``)."""

    def register(cls: E) -> E:
        _registry.register_executor(
            cls,  # type: ignore[arg-type]
            executor_id=executor_id,
            pre_hook=pre_hook,
            post_hook=post_hook,
        )
        return cls

    return register


def register_pre_hook(hook: TaskPreHook) -> TaskPreHook:
    """Run ``hook(task)`` before every task (usable as a decorator)."""
    return _registry.register_pre_hook(hook)


def register_post_hook(hook: TaskPostHook) -> TaskPostHook:
    """Run ``hook(task, inputs, result)`` after every task (usable as a decorator)."""
    return _registry.register_post_hook(hook)
