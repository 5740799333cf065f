"""Messages to a tree supervisor, and the jobs and outcomes it exchanges with the loop.

Messages are told to the supervisor's inbox from the application's asyncio loop (where
jobs run) or from callers on any thread; each is immutable and documents its fields.
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from aipartnerupflow.actors.reports import CancelAnswer
from aipartnerupflow.events.domain.status import TaskStatus
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
    """How a run ended: completed, failed, cancelled, or waiting for input."""

    task_id: str
    status: str
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None

    @classmethod
    def failure(cls, task_id: str, exc: BaseException, result: Any = None) -> Outcome:
        """A failed run; ``error_type`` is always the class name of the exception, and
        ``traceback`` is where it was raised (None for one made, not raised, here)."""
        trace = "".join(tb.format_exception(exc)) if exc.__traceback__ is not None else None
        message = str(exc) or repr(exc)
        return cls(task_id, TaskStatus.FAILED, result, message, type(exc).__name__, trace)


@dataclass(frozen=True)
class Committed:
    """The transaction of a batch of the run's changes is over; ``future`` holds its
    outcome (the changes that applied, or the error)."""

    future: Future[Any]


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
    """A run failed and starts again (attempt numbers count from 1).

    ``recorded`` is called (on the supervisor's thread) once the new attempt is
    committed: the executor is entered again only then.
    """

    task_id: str
    attempt: int
    failed: Outcome  # how the attempt before it ended
    recorded: Callable[[], None]


@dataclass(frozen=True)
class HookFailed:
    """A hook raised: logged and recorded, never fatal."""

    task_id: str
    hook: str
    error: str


@dataclass(frozen=True)
class Cancel:
    """Cancel a task of the tree (and what hangs on it); ``reply`` gets the answer once
    the cancellation is committed (called on the supervisor's thread)."""

    task_id: str
    message: str
    cause: dict[str, Any]
    reply: Callable[[CancelAnswer], None]


@dataclass(frozen=True)
class Stopped:
    """The running jobs of a cancel were stopped.

    ``victims`` are every task the cancel reached, ``stopped`` the ones that were running,
    and ``reports`` maps a stopped task's id to what its executor's ``cancel()`` returned.
    """

    request: Cancel
    victims: list[str]
    stopped: list[str]
    reports: dict[str, Any]
