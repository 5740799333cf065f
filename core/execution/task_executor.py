"""The original import path of ``TaskExecutor``, as the reference's Pattern 5 uses it."""

from aipartnerupflow.runtime.task_executor import TaskExecutor

__all__ = ["TaskExecutor"]
