"""Executors: the interface and the built-in ones (registered on import)."""

from . import builtin  # noqa: F401  (registers the built-in executors)
from .base import BaseTask, ExecutableTask

__all__ = ["BaseTask", "ExecutableTask"]
