"""One run of one task on the application's asyncio loop: hooks, checks, retries, timeout."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

from aipartnerupflow.actors.executor import ExecutableTask, bind_progress_sink
from aipartnerupflow.actors.input_schema import validate_inputs
from aipartnerupflow.actors.messages import (
    HookFailed,
    InputsChanged,
    Job,
    Outcome,
    Progress,
    Retrying,
)
from aipartnerupflow.actors.registry import ExtensionRegistry
from aipartnerupflow.errors import TaskValidationError
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.validation import check_json
from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.job")

Tell = Callable[[object], None]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__name__


class JobRunner:
    """Runs jobs for one tree; shared state is only touched on the loop thread."""

    def __init__(
        self,
        registry: ExtensionRegistry,
        pre_hooks: Sequence[Any],
        post_hooks: Sequence[Any],
        instances: dict[str, ExecutableTask],
        tell: Tell,
    ) -> None:
        self.registry = registry
        self.pre_hooks = pre_hooks
        self.post_hooks = post_hooks
        self.instances = instances
        self.tell = tell

    async def run(self, job: Job) -> Outcome:
        started = time.monotonic()
        task = job.task
        try:
            outcome = await self._run(job)
        except asyncio.CancelledError:
            outcome = Outcome(task.id, TaskStatus.CANCELLED, error="cancelled")
        except Exception as exc:  # an executor or hook bug must never crash the tree
            outcome = Outcome(
                task.id,
                TaskStatus.FAILED,
                error=str(exc) or repr(exc),
                error_type=type(exc).__name__,
            )
        finally:
            self.instances.pop(task.id, None)
        return Outcome(
            outcome.task_id,
            outcome.status,
            outcome.result,
            outcome.error,
            outcome.error_type,
            time.monotonic() - started,
        )

    async def _run(self, job: Job) -> Outcome:
        task = job.task
        if not job.registered:
            wanted = job.executor_id or task.name
            return Outcome(
                task.id,
                TaskStatus.FAILED,
                error=f"no executor is registered as {wanted!r} (looked at params.executor_id, "
                "schemas.method, then the task name)",
                error_type="ExecutorNotFoundError",
            )
        assert job.executor_id is not None
        original_inputs = dict(task.inputs)
        for hook in self.pre_hooks:
            await self._call_hook(task.id, hook, task)
        if task.inputs != original_inputs:
            self.tell(InputsChanged(task.id, dict(task.inputs), "pre_hooks"))
        inputs = task.inputs
        executor = self.registry.create_executor(job.executor_id, inputs)
        if executor is None:  # unregistered since the job was planned
            return Outcome(
                task.id,
                TaskStatus.FAILED,
                error=f"executor {job.executor_id!r} is no longer registered",
                error_type="ExecutorNotFoundError",
            )
        self.instances[task.id] = executor
        bind_progress_sink(executor, lambda value: self.tell(Progress(task.id, value)))
        problems = validate_inputs(inputs, executor.get_input_schema() or {})
        if problems:
            return Outcome(
                task.id, TaskStatus.FAILED, error="; ".join(problems), error_type="validation_error"
            )
        own_pre, own_post = self.registry.executor_hooks(job.executor_id)
        result = None
        if own_pre is not None:
            result = await self._call_hook(task.id, own_pre, task, inputs)
        if result is None:
            outcome = await self._execute(job, executor, inputs)
        else:
            outcome = _outcome_of(task.id, result)
        for hook in (*self.post_hooks, *([own_post] if own_post else [])):
            await self._call_hook(task.id, hook, task, inputs, outcome.result)
        return outcome

    async def _execute(self, job: Job, executor: ExecutableTask, inputs: dict[str, Any]) -> Outcome:
        task_id = job.task.id
        attempt = 0
        while True:
            try:
                call = executor.execute(inputs)
                result = await (asyncio.wait_for(call, job.timeout) if job.timeout else call)
                outcome = _outcome_of(task_id, result)
            except TimeoutError:
                outcome = Outcome(
                    task_id,
                    TaskStatus.FAILED,
                    error=f"timed out after {job.timeout} s",
                    error_type="TimeoutError",
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = Outcome(
                    task_id,
                    TaskStatus.FAILED,
                    error=str(exc) or repr(exc),
                    error_type=type(exc).__name__,
                )
            if outcome.status != TaskStatus.FAILED or attempt >= job.max_retries:
                return outcome
            attempt += 1
            self.tell(Retrying(task_id, job.attempt + attempt, outcome.error or ""))
            await asyncio.sleep(job.retry_delay * 2 ** (attempt - 1))

    async def _call_hook(self, task_id: str, hook: Any, *args: Any) -> Any:
        try:
            return await _maybe_await(hook(*args))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("hook_failed", task_id=task_id, hook=_hook_name(hook), error=str(exc))
            self.tell(HookFailed(task_id, _hook_name(hook), f"{type(exc).__name__}: {exc}"))
            return None


def _outcome_of(task_id: str, result: Any) -> Outcome:
    """An executor's return value as an outcome; ``{"status": "failed", ...}`` is a failure,
    and so is a result the log cannot store (checked here, so it fails only this task)."""
    try:
        result = check_json(result, task_id, "result")
    except TaskValidationError as exc:
        return Outcome(task_id, TaskStatus.FAILED, error=str(exc), error_type="ResultError")
    if isinstance(result, dict) and result.get("status") == TaskStatus.FAILED:
        return Outcome(
            task_id,
            TaskStatus.FAILED,
            result=result,
            error=str(result.get("error") or "failed"),
            error_type=result.get("error_type") or "ExecutorError",
        )
    return Outcome(task_id, TaskStatus.COMPLETED, result=result)
