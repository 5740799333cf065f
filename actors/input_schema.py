"""A small input check against an executor's JSON Schema: required keys and value types."""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
    "null": (type(None),),
}


def _has_type(value: Any, expected: str) -> bool:
    if expected in ("number", "integer") and isinstance(value, bool):
        return False  # bool subclasses int in Python, but JSON keeps them apart
    kinds = _TYPES.get(expected)
    # A type name this check does not know is not the caller's error to report here.
    return True if kinds is None else isinstance(value, kinds)


def validate_inputs(inputs: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Human-readable problems of ``inputs`` against ``schema``; empty when valid.

    Checks only that every ``required`` key is present and not None, and that each present
    value of a declared property has its ``type`` (a name or a list of names).
    """
    required = set(schema.get("required") or ())
    problems = [
        f"missing required input {name!r}"
        for name in schema.get("required") or ()
        if inputs.get(name) is None
    ]
    for name, spec in (schema.get("properties") or {}).items():
        if name not in inputs or not isinstance(spec, dict) or "type" not in spec:
            continue
        value = inputs[name]
        if value is None and name in required:
            continue  # already reported as missing
        expected = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        if not any(_has_type(value, kind) for kind in expected):
            problems.append(
                f"input {name!r} must be {' or '.join(expected)}, got {type(value).__name__}"
            )
    return problems
