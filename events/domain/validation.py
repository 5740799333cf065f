"""Validation of task fields: pure functions that raise typed errors or return clean values.

Every value is held to the documented limits (``limits``) and to text both databases
store, so the same input gets the same answer on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import msgpack

from aipartnerupflow.errors import (
    DependencyError,
    InvalidTextError,
    LimitExceededError,
    TaskValidationError,
)
from aipartnerupflow.events.domain.limits import (
    MAX_ERROR_CHARS,
    MAX_FIELD_BYTES,
    MAX_INT,
    MAX_JSON_DEPTH,
    MAX_JSON_INT,
    MAX_KEY_CHARS,
    MAX_ROW_COUNT,
    MAX_TASK_BYTES,
    MAX_TRACEBACK_CHARS,
    MIN_JSON_INT,
)
from aipartnerupflow.events.domain.status import TaskStatus

#: Columns of a task's state, in projection order.
TASK_COLUMNS = (
    "id",
    "parent_id",
    "user_id",
    "name",
    "status",
    "priority",
    "dependencies",
    "inputs",
    "params",
    "result",
    "error",
    "error_type",
    "schemas",
    "progress",
    "has_children",
    "created_at",
    "started_at",
    "updated_at",
    "completed_at",
    "original_task_id",
    "has_copy",
    "attempt",
)

#: Fields a user may set when creating a task (besides ``id``).
DEFINABLE_FIELDS = (
    "name",
    "user_id",
    "parent_id",
    "priority",
    "dependencies",
    "inputs",
    "params",
    "schemas",
)
#: Other fields of a stored task (``TaskModel`` columns): a definition may carry them, as
#: one copied from a stored task does, and they are ignored: a new task starts pending.
IGNORED_FIELDS = (
    "tree_id",
    *(column for column in TASK_COLUMNS if column not in ("id", *DEFINABLE_FIELDS)),
)
_KNOWN_FIELDS = frozenset(("id", *DEFINABLE_FIELDS, *IGNORED_FIELDS))
#: Fields that never change once a task exists.
IMMUTABLE_FIELDS = ("parent_id", "user_id")

#: Fields of a task's outcome that an update may set, with or without ``status``.
OUTCOME_FIELDS = ("result", "error", "error_type", "progress", "started_at", "completed_at")

_MAPPING_FIELDS = ("inputs", "params", "schemas")
#: The fields whose sizes together make a task's size (its result is bounded on its own).
_DEFINED_JSON_FIELDS = ("inputs", "params", "schemas", "dependencies")

_SURROGATES = re.compile("[\ud800-\udfff]")
#: ``\u0000`` in JSON text that is an escape (not an escaped backslash before "u0000").
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80


def _show(value: Any) -> str:
    """``repr`` of a value for an error message, shortened (values may be megabytes)."""
    return _short.repr(value)


def check_text(
    value: str, task_id: str | None, field: str, *, max_chars: int | None = MAX_KEY_CHARS
) -> str:
    """Refuse text longer than ``max_chars``, or holding what not every database stores:
    NUL characters and surrogate code points (not valid Unicode on their own)."""
    if max_chars is not None and len(value) > max_chars:
        raise LimitExceededError(
            f"is {len(value)} characters long; at most {max_chars} are allowed",
            task_id=task_id,
            field=field,
        )
    if "\x00" in value:
        raise InvalidTextError(
            "contains a NUL character, which not every database stores",
            task_id=task_id,
            field=field,
        )
    if not value.isascii() and _SURROGATES.search(value):
        raise InvalidTextError(
            "contains a surrogate code point (U+D800..U+DFFF), which is not valid Unicode",
            task_id=task_id,
            field=field,
        )
    return value


def clean_message(value: Any, *, max_chars: int = MAX_ERROR_CHARS) -> str | None:
    """An error message or type as it is recorded: text, cut to ``max_chars``, with NUL
    characters and surrogates replaced by U+FFFD. Messages come from failures the
    runtime records, so they are mended rather than refused."""
    if value is None:
        return None
    text = (value if isinstance(value, str) else str(value))[:max_chars]
    text = text.replace("\x00", "\ufffd")
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def clean_traceback(value: Any) -> str | None:
    """A traceback as it is recorded: its last ``MAX_TRACEBACK_CHARS`` characters (the
    innermost frames and the exception), mended like an error message."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "…" + text[-(MAX_TRACEBACK_CHARS - 1) :]
    return clean_message(text, max_chars=MAX_TRACEBACK_CHARS)


def check_task_id(value: Any, *, field: str = "id", task_id: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TaskValidationError(
            f"must be a non-empty string, got {_show(value)}", task_id=task_id, field=field
        )
    return check_text(value, task_id, field)


def check_name(value: Any, task_id: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TaskValidationError(
            f"must be a non-empty string, got {_show(value)}", task_id=task_id, field="name"
        )
    return check_text(value, task_id, "name")


def check_user_id(value: Any, task_id: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TaskValidationError(
            f"must be a string or None, got {type(value).__name__}",
            task_id=task_id,
            field="user_id",
        )
    return check_text(value, task_id, "user_id")


def check_priority(value: Any, task_id: str | None) -> int:
    # bool is an int subclass, but True as a priority is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TaskValidationError(
            f"must be an integer (0 is most urgent), got {_show(value)}",
            task_id=task_id,
            field="priority",
        )
    if value < 0:
        raise TaskValidationError(
            f"must be 0 or more (0 is most urgent), got {value}", task_id=task_id, field="priority"
        )
    if value > MAX_INT:
        raise LimitExceededError(
            f"must be at most {MAX_INT}, got {_show(value)}", task_id=task_id, field="priority"
        )
    return int(value)


def check_row_count(value: Any, field: str) -> int:
    """A ``limit`` or ``offset`` of a listing: anything ``int()`` takes, negative as 0,
    beyond ``MAX_ROW_COUNT`` as ``MAX_ROW_COUNT`` (more rows than any table holds)."""
    try:
        count = int(value)
    except (TypeError, ValueError, OverflowError):
        raise TaskValidationError(f"must be an integer, got {_show(value)}", field=field) from None
    return min(max(0, count), MAX_ROW_COUNT)


def _log_int(text: str) -> int:
    value = int(text)
    if not MIN_JSON_INT <= value <= MAX_JSON_INT:
        raise OverflowError(f"integer {_show(value)} does not fit in 64 bits")
    return value


def _is_plain(value: Any) -> bool:
    """A scalar other than text that is its own JSON form (checked without a round trip)."""
    kind = type(value)
    if kind is bool or value is None:
        return True
    if kind is int:
        return MIN_JSON_INT <= value <= MAX_JSON_INT
    return kind is float and math.isfinite(value)


def _check_depth(value: Any, task_id: str | None, field: str) -> None:
    """Refuse containers nested deeper than ``MAX_JSON_DEPTH``, walking without recursion
    (a self-containing value is refused here too)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise LimitExceededError(
                f"nests objects and arrays more than {MAX_JSON_DEPTH} levels deep",
                task_id=task_id,
                field=field,
            )
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, depth + 1))


def _from_json(value: Any, task_id: str | None, field: str) -> Any:
    """``value`` through a JSON round trip, refusing what JSON or the log cannot hold."""
    if isinstance(value, (dict, list, tuple)):
        _check_depth(value, task_id, field)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TaskValidationError(
            f"must be JSON-serialisable: {exc}", task_id=task_id, field=field
        ) from None
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise InvalidTextError(
            "contains a NUL character, which not every database stores",
            task_id=task_id,
            field=field,
        )
    try:
        return json.loads(text, parse_int=_log_int)
    except OverflowError as exc:
        raise LimitExceededError(str(exc), task_id=task_id, field=field) from None


def encoded_size(value: Any, task_id: str | None, field: str) -> int:
    """Bytes of a JSON value in the log's encoding; surrogates in it are refused."""
    if not value and type(value) in (dict, list):
        return 1  # msgpack's empty map or array: most fields of most tasks
    try:
        return len(msgpack.packb(value, use_bin_type=True))
    except UnicodeEncodeError:
        raise InvalidTextError(
            "contains a surrogate code point (U+D800..U+DFFF), which is not valid Unicode",
            task_id=task_id,
            field=field,
        ) from None


def check_json(value: Any, task_id: str | None, field: str) -> Any:
    """Return ``value`` as it is stored and read back: its JSON form (tuples become lists,
    keys strings), a copy the caller cannot change afterwards. Values JSON cannot hold,
    integers beyond 64 bits, text with NULs or surrogates, nesting beyond
    ``MAX_JSON_DEPTH`` and sizes beyond ``MAX_FIELD_BYTES`` are refused."""
    if value is None or _is_plain(value):
        return value
    clean: Any
    if type(value) is str:
        clean = check_text(value, task_id, field, max_chars=None)
    elif type(value) is dict and all(
        type(k) is str and (_is_plain(v) or type(v) is str) for k, v in value.items()
    ):
        # Already its JSON form: a shallow copy is the private copy.
        for text in (*value, *(v for v in value.values() if type(v) is str)):
            if "\x00" in text:
                check_text(text, task_id, field, max_chars=None)
        clean = dict(value)
    else:
        clean = _from_json(value, task_id, field)
    size = encoded_size(clean, task_id, field)
    if size > MAX_FIELD_BYTES:
        raise LimitExceededError(
            f"takes {size} bytes; at most {MAX_FIELD_BYTES} are allowed",
            task_id=task_id,
            field=field,
        )
    return clean


def check_task_size(fields: Mapping[str, Any], task_id: str | None) -> None:
    """Refuse a task whose defined JSON fields (clean values) together take more than
    ``MAX_TASK_BYTES``."""
    size = 0
    for field in _DEFINED_JSON_FIELDS:
        if field in fields:
            size += encoded_size(fields[field], task_id, field)
    if size > MAX_TASK_BYTES:
        raise LimitExceededError(
            f"its inputs, params, schemas and dependencies take {size} bytes; "
            f"at most {MAX_TASK_BYTES} are allowed",
            task_id=task_id,
        )


def check_mapping(value: Any, task_id: str | None, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TaskValidationError(
            f"must be an object (dict), got {type(value).__name__}", task_id=task_id, field=field
        )
    if not all(isinstance(key, str) for key in value):
        raise TaskValidationError("keys must be strings", task_id=task_id, field=field)
    return check_json(dict(value), task_id, field)


def check_params(value: Any, task_id: str | None) -> dict[str, Any]:
    """``params`` is free-form, except for the keys the engine reads at rest:
    ``input_timeout`` (seconds a wait for input may last) must be a positive number."""
    params = check_mapping(value, task_id, "params")
    timeout = params.get("input_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise TaskValidationError(
            f"input_timeout must be a positive number of seconds, got {_show(timeout)}",
            task_id=task_id,
            field="params",
        )
    return params


def check_progress(value: Any, task_id: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TaskValidationError(
            f"must be a number between 0.0 and 1.0, got {_show(value)}",
            task_id=task_id,
            field="progress",
        )
    if not 0.0 <= value <= 1.0:
        raise TaskValidationError(
            f"must be between 0.0 and 1.0, got {value}", task_id=task_id, field="progress"
        )
    return float(value)


def check_time(value: Any, task_id: str | None, field: str) -> datetime | None:
    """A timestamp in UTC; a naive one is taken as UTC, as the database columns store it."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TaskValidationError(
            f"must be a datetime, got {type(value).__name__}", task_id=task_id, field=field
        )
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise LimitExceededError(
            f"{value.isoformat()} is outside the years 1 to 9999 in UTC",
            task_id=task_id,
            field=field,
        ) from None


def normalize_dependencies(value: Any, task_id: str | None) -> list[dict[str, Any]]:
    """Return dependencies as ``[{"id", "required", "type"}]``; a bare string is a required id."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise TaskValidationError(
            f"must be a list of {{'id': ..., 'required': bool}}, got {type(value).__name__}",
            task_id=task_id,
            field="dependencies",
        )
    normalized: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in value:
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, Mapping) or "id" not in entry:
            raise DependencyError(
                f"each dependency needs an 'id', got {_show(entry)}",
                task_id=task_id,
                field="dependencies",
            )
        dep_id = check_task_id(entry["id"], field="dependencies", task_id=task_id)
        required = entry.get("required", True)
        if not isinstance(required, bool):
            raise DependencyError(
                f"'required' of dependency {dep_id!r} must be a bool, got {_show(required)}",
                task_id=task_id,
                field="dependencies",
            )
        if dep_id == task_id:
            raise DependencyError(
                "a task cannot depend on itself", task_id=task_id, field="dependencies"
            )
        if dep_id in seen:
            raise DependencyError(
                f"dependency {dep_id!r} is listed twice", task_id=task_id, field="dependencies"
            )
        dep_type = entry.get("type", "result")
        if not isinstance(dep_type, str):
            raise DependencyError(
                f"'type' of dependency {dep_id!r} must be a string, got {_show(dep_type)}",
                task_id=task_id,
                field="dependencies",
            )
        check_text(dep_type, task_id, "dependencies")
        seen.add(dep_id)
        normalized.append({"id": dep_id, "required": required, "type": dep_type})
    return normalized


def check_status(value: Any, task_id: str | None) -> str:
    if value not in TaskStatus.ALL:
        raise TaskValidationError(
            f"must be one of {', '.join(TaskStatus.ALL)}, got {value!r}",
            task_id=task_id,
            field="status",
        )
    return cast(str, value)


def check_outcome(field: str, value: Any, task_id: str | None) -> Any:
    """Validate one of ``OUTCOME_FIELDS`` and return its stored form."""
    if field == "result":
        return check_json(value, task_id, field)
    if field == "progress":
        return check_progress(value, task_id)
    if field in ("started_at", "completed_at"):
        return check_time(value, task_id, field)
    if value is not None and not isinstance(value, str):
        raise TaskValidationError(
            f"must be a string or None, got {type(value).__name__}", task_id=task_id, field=field
        )
    # Error texts are mended, never refused, as when the runtime records a failure.
    return clean_message(
        value, max_chars=MAX_KEY_CHARS if field == "error_type" else MAX_ERROR_CHARS
    )


def check_field(field: str, value: Any, task_id: str | None) -> Any:
    """Validate one updatable field and return its stored form."""
    if field == "name":
        return check_name(value, task_id)
    if field == "priority":
        return check_priority(value, task_id)
    if field == "params":
        return check_params(value, task_id)
    if field in _MAPPING_FIELDS:
        return check_mapping(value, task_id, field)
    if field == "dependencies":
        return normalize_dependencies(value, task_id)
    raise TaskValidationError("is not a field that can be updated", task_id=task_id, field=field)


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one cycle of ``graph`` (node -> successors) as a list of nodes, or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for start in graph:
        if colour[start] != white:
            continue
        path: list[str] = []
        stack: list[tuple[str, Any]] = [(start, iter(graph[start]))]
        colour[start] = grey
        path.append(start)
        while stack:
            node, successors = stack[-1]
            for succ in successors:
                state = colour.get(succ, black)
                if state == grey:
                    return [*path[path.index(succ) :], succ]
                if state == white:
                    colour[succ] = grey
                    path.append(succ)
                    stack.append((succ, iter(graph[succ])))
                    break
            else:
                colour[node] = black
                path.pop()
                stack.pop()
    return None


def build_spec(raw: Any, task_id: str | None) -> dict[str, Any]:
    """Validate one task definition (without its references) and return its clean spec."""
    if not isinstance(raw, Mapping):
        raise TaskValidationError(
            f"a task must be an object (dict), got {type(raw).__name__}", task_id=task_id
        )
    unknown = sorted(raw.keys() - _KNOWN_FIELDS)
    if unknown:
        raise TaskValidationError(
            f"unknown field(s) {', '.join(map(_show, unknown))}; allowed: id, "
            + ", ".join(DEFINABLE_FIELDS)
            + " (other task columns are ignored)",
            task_id=task_id,
        )
    if "name" not in raw:
        raise TaskValidationError("is required", task_id=task_id, field="name")
    parent_id = raw.get("parent_id")
    if parent_id is not None:
        check_task_id(parent_id, field="parent_id", task_id=task_id)
    spec = {
        "id": task_id,
        "name": check_name(raw["name"], task_id),
        "user_id": check_user_id(raw.get("user_id"), task_id),
        "parent_id": parent_id,
        "priority": check_priority(raw.get("priority", 1), task_id),
        "dependencies": normalize_dependencies(raw.get("dependencies"), task_id),
        "inputs": check_mapping(raw.get("inputs"), task_id, "inputs"),
        "params": check_params(raw.get("params"), task_id),
        "schemas": check_mapping(raw.get("schemas"), task_id, "schemas"),
    }
    check_task_size(spec, task_id)
    return spec
