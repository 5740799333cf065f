"""The extension registry: executors by id, global hooks, and per-executor hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aipartnerupflow.actors.executor import ExecutableTask
    from aipartnerupflow.projections.models import TaskModel

#: ``hook(task)`` before every task runs; may change ``task.inputs``; may return an awaitable.
TaskPreHook = Callable[["TaskModel"], Any]
#: ``hook(task, inputs, result)`` after every task ran; may return an awaitable.
TaskPostHook = Callable[["TaskModel", dict[str, Any], Any], Any]
#: Per-executor ``hook(task, inputs)``: a non-None return is the result and ``execute`` is
#: skipped; may return an awaitable.
ExecutorPreHook = Callable[["TaskModel", dict[str, Any]], Any]

E = TypeVar("E")


@dataclass(frozen=True)
class _Entry:
    factory: type[ExecutableTask] | ExecutableTask
    pre_hook: ExecutorPreHook | None
    post_hook: TaskPostHook | None

    def instantiate(self, inputs: dict[str, Any] | None) -> ExecutableTask:
        if isinstance(self.factory, type):
            return self.factory(inputs=inputs)  # type: ignore[call-arg]
        return self.factory


class ExtensionRegistry:
    """Executors registered by id, plus the hooks every run calls."""

    def __init__(self) -> None:
        self._executors: dict[str, _Entry] = {}
        self._pre_hooks: list[TaskPreHook] = []
        self._post_hooks: list[TaskPostHook] = []
        # Registration may happen from import-time code on any thread.
        self._lock = threading.Lock()

    def register_executor(
        self,
        executor: type[ExecutableTask] | ExecutableTask,
        *,
        executor_id: str | None = None,
        pre_hook: ExecutorPreHook | None = None,
        post_hook: TaskPostHook | None = None,
        override: bool = True,
    ) -> None:
        """Register a class (a fresh instance per run) or an instance (shared by runs)
        under ``executor_id`` or else its ``id``.

        With ``override=False`` an id that is already taken raises ``ValueError``.
        """
        key = executor_id or getattr(executor, "id", None)
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"executor {executor!r} needs a non-empty string id (or pass executor_id=)"
            )
        with self._lock:
            if not override and key in self._executors:
                raise ValueError(f"an executor is already registered as {key!r}")
            self._executors[key] = _Entry(executor, pre_hook, post_hook)

    def unregister_executor(self, executor_id: str) -> None:
        """Forget ``executor_id`` (and its hooks); unknown ids are ignored."""
        with self._lock:
            self._executors.pop(executor_id, None)

    def has_executor(self, executor_id: str) -> bool:
        return executor_id in self._executors

    def get_executor_class(self, executor_id: str) -> type[ExecutableTask] | None:
        """The class registered as ``executor_id`` (an instance's class), or None."""
        entry = self._executors.get(executor_id)
        if entry is None:
            return None
        return entry.factory if isinstance(entry.factory, type) else type(entry.factory)

    def create_executor(
        self, executor_id: str, inputs: dict[str, Any] | None = None
    ) -> ExecutableTask | None:
        """The executor for one run, or None when nothing has that id: a new instance
        when a class was registered, the registered instance otherwise."""
        entry = self._executors.get(executor_id)
        return None if entry is None else entry.instantiate(inputs)

    def executor_hooks(
        self, executor_id: str
    ) -> tuple[ExecutorPreHook | None, TaskPostHook | None]:
        """The per-executor ``(pre_hook, post_hook)`` of ``executor_id``."""
        entry = self._executors.get(executor_id)
        return (None, None) if entry is None else (entry.pre_hook, entry.post_hook)

    def list_executors(self) -> list[dict[str, Any]]:
        """``id``, ``name``, ``description`` and ``input_schema`` of every executor, by id."""
        listing = []
        for key, entry in sorted(self._executors.items()):
            executor = entry.instantiate(None)
            listing.append(
                {
                    "id": key,
                    "name": executor.name,
                    "description": executor.description,
                    "input_schema": executor.get_input_schema(),
                }
            )
        return listing

    def register_pre_hook(self, hook: TaskPreHook) -> TaskPreHook:
        """Call ``hook(task)`` before every task; returns ``hook``."""
        with self._lock:
            self._pre_hooks.append(hook)
        return hook

    def register_post_hook(self, hook: TaskPostHook) -> TaskPostHook:
        """Call ``hook(task, inputs, result)`` after every task; returns ``hook``."""
        with self._lock:
            self._post_hooks.append(hook)
        return hook

    @property
    def pre_hooks(self) -> list[TaskPreHook]:
        """A copy of the global pre-hooks, in registration order."""
        return list(self._pre_hooks)

    @property
    def post_hooks(self) -> list[TaskPostHook]:
        """A copy of the global post-hooks, in registration order."""
        return list(self._post_hooks)

    def clear_hooks(self) -> None:
        """Drop the global hooks (per-executor hooks stay with their executors)."""
        with self._lock:
            self._pre_hooks.clear()
            self._post_hooks.clear()


def resolve_executor_id(task: Any, registry: ExtensionRegistry) -> tuple[str | None, bool]:
    """Which executor runs ``task`` (anything with ``params``, ``schemas`` and ``name``).

    Returns ``(chosen id, registered?)``:

    1. ``params["executor_id"]`` when set: ``(it, whether it is registered)``;
    2. else ``schemas["method"]`` when set: ``(it, whether it is registered)``;
    3. else the task's ``name`` when an executor is registered under it: ``(name, True)``;
    4. else ``(None, False)``.

    An explicit id or method is never passed over for a later rule, so a typo fails the
    task instead of silently running something else.
    """
    chosen = (task.params or {}).get("executor_id") or (task.schemas or {}).get("method")
    if chosen:
        return chosen, registry.has_executor(chosen)
    if task.name and registry.has_executor(task.name):
        return task.name, True
    return None, False


_registry = ExtensionRegistry()


def get_registry() -> ExtensionRegistry:
    """The process-wide registry."""
    return _registry


def executor_register(
    pre_hook: ExecutorPreHook | None = None,
    post_hook: TaskPostHook | None = None,
    executor_id: str | None = None,
) -> Callable[[E], E]:
    """Class decorator: register the class under ``executor_id`` or else its ``id``, with
    optional per-executor hooks; returns the class unchanged."""

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
    """Call ``hook(task)`` before every task (usable as a decorator)."""
    return _registry.register_pre_hook(hook)


def register_post_hook(hook: TaskPostHook) -> TaskPostHook:
    """Call ``hook(task, inputs, result)`` after every task (usable as a decorator)."""
    return _registry.register_post_hook(hook)
