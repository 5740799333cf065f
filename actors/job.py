"""One run of one task: the job planned from its state, then run on the application's
asyncio loop (hooks, checks, retries, timeout)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any
from uuid import UUID

from aipartnerupflow.actors.context import ExecutionContext, executing
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
from aipartnerupflow.actors.registry import ExtensionRegistry, resolve_executor_id
from aipartnerupflow.actors.waiting import input_request, is_input_request
from aipartnerupflow.errors import (
    ExecutorError,
    ExecutorNotFoundError,
    InputRequired,
    InputValidationError,
    ResultError,
    TaskValidationError,
)
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.validation import check_json
from aipartnerupflow.logs import get_logger
from aipartnerupflow.projections.models import TaskModel

log = get_logger("aipartnerupflow.job")

Tell = Callable[[object], None]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__name__


def merged_inputs(
    state: Mapping[str, Any], states: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The task's inputs with the results of its completed dependencies merged in.

    A result holding a dict under ``"result"`` gives that dict; with input-schema
    ``properties`` only matching keys are copied, otherwise ``inputs[dependency id]``.
    """
    inputs = dict(state["inputs"])
    properties = (state["schemas"].get("input_schema") or {}).get("properties")
    for dep in state["dependencies"]:
        dep_state = states[dep["id"]]
        if dep_state["status"] != TaskStatus.COMPLETED:
            continue
        result = dep_state["result"]
        if isinstance(result, dict) and isinstance(result.get("result"), dict):
            result = result["result"]
        if properties and isinstance(result, dict):
            inputs.update({k: v for k, v in result.items() if k in properties})
        else:
            inputs[dep["id"]] = result
    return inputs


def plan_job(state: dict[str, Any], tree_id: UUID, registry: ExtensionRegistry) -> Job:
    """The job for the attempt ``state`` records (its start already applied)."""
    # Hooks and executors get their own copies: they may mutate what they are given.
    task = TaskModel.detached_copy(state, tree_id)
    executor_id, registered = resolve_executor_id(task, registry)
    params = state["params"]
    return Job(
        task=task,
        executor_id=executor_id,
        registered=registered,
        attempt=state["attempt"],
        max_retries=int(params.get("max_retries", 0) or 0),
        retry_delay=float(params.get("retry_delay", 0.5)),
        timeout=float(params["timeout"]) if params.get("timeout") else None,
    )


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
        """Run ``job`` to its outcome; an executor or hook bug never escapes."""
        task = job.task
        try:
            return await self._run(job)
        except asyncio.CancelledError:
            return Outcome(task.id, TaskStatus.CANCELLED, error="cancelled")
        except Exception as exc:
            return Outcome.failure(task.id, exc)
        finally:
            self.instances.pop(task.id, None)

    async def _run(self, job: Job) -> Outcome:
        task = job.task
        if not job.registered:
            wanted = job.executor_id or task.name
            raise ExecutorNotFoundError(
                f"no executor is registered as {wanted!r} (looked at params.executor_id, "
                "schemas.method, then the task name)"
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
            raise ExecutorNotFoundError(f"executor {job.executor_id!r} is no longer registered")
        self.instances[task.id] = executor
        bind_progress_sink(executor, lambda value: self.tell(Progress(task.id, value)))
        problems = validate_inputs(inputs, executor.get_input_schema() or {})
        if problems:
            raise InputValidationError("; ".join(problems))
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
            context = ExecutionContext(task_id, str(job.task.tree_id), job.attempt + attempt)
            try:
                with executing(context):
                    call = executor.execute(inputs)
                    result = await (asyncio.wait_for(call, job.timeout) if job.timeout else call)
                outcome = _outcome_of(task_id, result)
            except InputRequired as request:
                asked = {"status": "input_required", "prompt": request.prompt}
                outcome = _outcome_of(task_id, {**asked, "schema": request.schema})
            except TimeoutError:
                outcome = Outcome.failure(task_id, TimeoutError(f"timed out after {job.timeout} s"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = Outcome.failure(task_id, exc)
            if outcome.status != TaskStatus.FAILED or attempt >= job.max_retries:
                return outcome
            attempt += 1
            # The next attempt starts once its start is recorded (and the delay is over).
            recorded, done = _acknowledgement()
            self.tell(Retrying(task_id, job.attempt + attempt, outcome, done))
            await asyncio.gather(asyncio.sleep(job.retry_delay * 2 ** (attempt - 1)), recorded)

    async def _call_hook(self, task_id: str, hook: Any, *args: Any) -> Any:
        try:
            return await _maybe_await(hook(*args))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("hook_failed", task_id=task_id, hook=_hook_name(hook), error=str(exc))
            self.tell(HookFailed(task_id, _hook_name(hook), f"{type(exc).__name__}: {exc}"))
            return None


def _acknowledgement() -> tuple[asyncio.Future[None], Callable[[], None]]:
    """A future on this loop and the callback, safe from any thread, that resolves it."""
    loop = asyncio.get_running_loop()
    recorded: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not recorded.done():
            recorded.set_result(None)

    def done() -> None:
        with suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle)

    return recorded, done


def _outcome_of(task_id: str, result: Any) -> Outcome:
    """An executor's return value as an outcome; ``{"status": "failed", ...}`` is a failure,
    and so is a result the log cannot store (checked here, so it fails only this task);
    ``{"status": "input_required", ...}`` makes the task wait for input."""
    try:
        result = check_json(result, task_id, "result")
        if is_input_request(result):
            return Outcome(task_id, TaskStatus.WAITING, result=input_request(result))
    except (TaskValidationError, ResultError) as exc:
        return Outcome.failure(task_id, ResultError(str(exc)))
    if isinstance(result, dict) and result.get("status") == TaskStatus.FAILED:
        return Outcome(
            task_id,
            TaskStatus.FAILED,
            result=result,
            error=str(result.get("error") or "failed"),
            # The executor names its own error; one that does not gets the engine's name.
            error_type=result.get("error_type") or ExecutorError.__name__,
        )
    return Outcome(task_id, TaskStatus.COMPLETED, result=result)
