"""Messages between the tree supervisor, its task actors and the asyncio loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aipartnerupflow.projections.models import TaskModel


@dataclass(frozen=True)
class Job:
    """One run of one task: a detached copy of the task with its merged inputs."""

    task: TaskModel
    executor_id: str | None
    registered: bool
    attempt: int
    max_retries: int = 0
    retry_delay: float = 0.5
    timeout: float | None = None


@dataclass(frozen=True)
class Outcome:
    """How a run ended: completed, failed or cancelled."""

    task_id: str
    status: str
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class Start:
    """Begin running the tree."""


@dataclass(frozen=True)
class Abandon:
    """Stop the tree's work and record nothing more: another process took it over
    (``LeaseLostError``) or this one is shutting down (``RunInterruptedError``)."""

    error: BaseException


@dataclass(frozen=True)
class Outcomes:
    """Runs that ended, batched per loop iteration."""

    outcomes: list[Outcome]


@dataclass(frozen=True)
class InputsChanged:
    """A pre-hook changed a task's inputs; the change is recorded."""

    task_id: str
    inputs: dict[str, Any]
    hook: str


@dataclass(frozen=True)
class Progress:
    """An executor reported progress."""

    task_id: str
    progress: float


@dataclass(frozen=True)
class Retrying:
    """A run failed and starts again (attempt numbers count from 1)."""

    task_id: str
    attempt: int
    error: str


@dataclass(frozen=True)
class HookFailed:
    """A hook raised: logged and recorded, never fatal."""

    task_id: str
    hook: str
    error: str


@dataclass(frozen=True)
class Cancel:
    """Cancel a task of the tree (and what hangs on it); ``reply`` gets the answer dict."""

    task_id: str
    message: str
    cause: dict[str, Any]
    reply: Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RunJobs:
    """Task actor: run these jobs on the loop."""

    jobs: list[Job]


@dataclass(frozen=True)
class CancelJobs:
    """Task actor: stop these running jobs; ``reply`` gets ``{task_id: cancel() report}``."""

    task_ids: list[str]
    reply: Callable[[dict[str, Any]], None]
    reports: dict[str, Any] = field(default_factory=dict)
