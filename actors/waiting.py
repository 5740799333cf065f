"""A task waiting for input: the request its executor made, and when the wait expires.

The request is recorded as the waiting task's result, ``{"status": "input_required",
"prompt", "schema", "asked_at"}``; ``asked_at`` (ISO 8601, UTC) starts the clock of
``params.input_timeout``. The input, once given, is recorded under ``inputs["input"]``
and the task goes back to pending, to run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aipartnerupflow.actors.input_schema import validate_inputs
from aipartnerupflow.errors import (
    InputTimeoutError,
    ResultError,
    TaskStateError,
    TaskValidationError,
)
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.domain.validation import check_json

#: Where a task finds the input it asked for when it runs again.
INPUT_KEY = "input"

INPUT_REQUIRED = "input_required"


def is_input_request(result: Any) -> bool:
    """Whether an executor's return value asks for input."""
    return isinstance(result, dict) and result.get("status") == INPUT_REQUIRED


def input_request(returned: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """What a waiting task records: the executor's request, stamped with ``asked_at``.

    Raises ``ResultError`` when ``schema`` is neither absent nor a JSON Schema object.
    """
    schema = returned.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise ResultError(f"an input request's schema must be an object, got {schema!r}")
    asked_at = (now or datetime.now(UTC)).isoformat()
    return {**returned, "status": INPUT_REQUIRED, "schema": schema, "asked_at": asked_at}


def wait_expired(state: Mapping[str, Any], now: datetime | None = None) -> InputTimeoutError | None:
    """The error that ends a waiting task whose ``params.input_timeout`` has passed."""
    timeout = (state.get("params") or {}).get("input_timeout")
    request = state.get("result")
    if state.get("status") != TaskStatus.WAITING or not timeout or not isinstance(request, dict):
        return None
    try:
        asked_at = datetime.fromisoformat(request["asked_at"])
        seconds = float(timeout)
    except (KeyError, TypeError, ValueError):
        return None  # no usable clock (a wait set by hand): it never expires
    waited = ((now or datetime.now(UTC)) - asked_at).total_seconds()
    if waited < seconds:
        return None
    return InputTimeoutError(f"no input came within {seconds:g} s (input_timeout)")


def _problems(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``data`` against the request's schema (the same small check as
    an executor's inputs get: type, required keys, the types of declared properties)."""
    problems = validate_inputs({INPUT_KEY: data}, {"properties": {INPUT_KEY: schema}})
    if isinstance(data, dict):
        problems += validate_inputs(data, dict(schema))
    elif not problems and ("required" in schema or "properties" in schema):
        problems.append(f"input must be object, got {type(data).__name__}")
    return problems


def check_input(state: Mapping[str, Any], data: Any, now: datetime | None = None) -> Any:
    """``data`` as it will be stored, when the task waits for input and ``data`` fits
    the recorded schema; otherwise a typed error (``TaskStateError``: not waiting or the
    wait timed out; ``TaskValidationError``: the input does not fit)."""
    task_id = state["id"]
    if state["status"] != TaskStatus.WAITING:
        raise TaskStateError(
            f"is {state['status']}, not waiting for input", task_id=task_id, field="status"
        )
    expired = wait_expired(state, now)
    if expired is not None:
        raise TaskStateError(f"its wait for input is over: {expired}", task_id=task_id)
    data = check_json(data, task_id, INPUT_KEY)
    request = state["result"] if isinstance(state["result"], dict) else {}
    schema = request.get("schema")
    problems = _problems(data, schema) if isinstance(schema, dict) else []
    if problems:
        raise TaskValidationError("; ".join(problems), task_id=task_id, field=INPUT_KEY)
    return data


def record_input(tree: TaskTree, task_id: str, data: Any, cause: dict[str, Any]) -> None:
    """Give a waiting task its input and queue it to run again; all or nothing."""
    state = tree.require(task_id)
    data = check_input(state, data)
    tree.update_field(task_id, "inputs", {**state["inputs"], INPUT_KEY: data}, cause)
    tree.set_status(task_id, TaskStatus.PENDING, cause)
