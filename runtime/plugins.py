"""Loading the application's executors into a process: modules named on the command line
(``--import module[:attr]``) and packages that declare an ``aipartnerupflow.executors``
entry point.

Importing a module runs its ``@executor_register()`` decorators. ``module:attr`` also
registers ``attr`` when it is an executor class or instance, or calls it with the
registry when it is a function (a plug-in's ``register(registry)``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from aipartnerupflow.actors.executor import ExecutableTask
from aipartnerupflow.actors.registry import ExtensionRegistry
from aipartnerupflow.errors import PluginError

ENTRY_POINT_GROUP = "aipartnerupflow.executors"


def _load(spec: str, registry: ExtensionRegistry) -> None:
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise PluginError(f"{spec!r} names no module (expected module or module:attr)")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: report any failure the same way
        raise PluginError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    if not attr:
        return
    try:
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise PluginError(f"module {module_name!r} has no attribute {attr!r}") from None
    if isinstance(target, ExecutableTask) or (
        inspect.isclass(target) and issubclass(target, ExecutableTask)
    ):
        registry.register_executor(target)
    elif callable(target):
        target(registry)
    else:
        raise PluginError(f"{spec!r} is neither an executor nor a function taking the registry")


def import_executors(specs: Iterable[str], registry: ExtensionRegistry) -> None:
    """Import each ``module[:attr]`` in order, registering what it names."""
    for spec in specs:
        _load(spec, registry)


def load_entry_points(registry: ExtensionRegistry, group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every installed entry point of ``group``; returns the names loaded."""
    loaded = []
    for point in entry_points(group=group):
        _load(point.value, registry)
        loaded.append(point.name)
    return loaded
