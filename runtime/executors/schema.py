"""A small input check against the executor's JSON Schema: required keys and value types."""

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
        return False  # JSON has no booleans among its numbers
    kinds = _TYPES.get(expected)
    return True if kinds is None else isinstance(value, kinds)


def validate_inputs(inputs: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Problems of ``inputs`` against ``schema`` (empty when valid): missing required
    fields, and declared properties whose value has the wrong JSON type."""
    problems = [
        f"missing required input {name!r}"
        for name in schema.get("required", ())
        if inputs.get(name) is None
    ]
    for name, spec in (schema.get("properties") or {}).items():
        if name not in inputs or not isinstance(spec, dict) or "type" not in spec:
            continue
        expected = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        value = inputs[name]
        if value is None and name not in schema.get("required", ()):
            continue
        if not any(_has_type(value, kind) for kind in expected):
            problems.append(
                f"input {name!r} must be {' or '.join(expected)}, got {type(value).__name__}"
            )
    return problems
