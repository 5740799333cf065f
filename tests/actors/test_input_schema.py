"""validate_inputs: required keys and JSON types, nothing fancier."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aipartnerupflow.actors.input_schema import validate_inputs

# One strategy per JSON type; the sets of types each value satisfies follow JSON, not Python.
JSON_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(),
    "integer": st.integers(),
    "number": st.floats(allow_nan=False),
    "boolean": st.booleans(),
    "object": st.dictionaries(st.text(), st.integers()),
    "array": st.lists(st.integers()),
    "null": st.none(),
}
SATISFIES = {
    "string": {"string"},
    "integer": {"integer", "number"},
    "number": {"number"},
    "boolean": {"boolean"},
    "object": {"object"},
    "array": {"array"},
    "null": {"null"},
}
TYPES = sorted(JSON_VALUES)


def typed(kind: str | list[str], *, required: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {"x": {"type": kind}}}
    if required:
        schema["required"] = ["x"]
    return schema


@given(
    st.sampled_from(TYPES).flatmap(lambda t: st.tuples(st.just(t), JSON_VALUES[t])),
    st.sampled_from(TYPES),
)
def test_a_value_matches_exactly_the_json_types_it_has(drawn: tuple[str, Any], kind: str) -> None:
    value_type, value = drawn
    problems = validate_inputs({"x": value}, typed(kind))
    assert (problems == []) == (kind in SATISFIES[value_type])


@given(
    st.sampled_from(TYPES).flatmap(lambda t: st.tuples(st.just(t), JSON_VALUES[t])),
    st.lists(st.sampled_from(TYPES), min_size=1, unique=True),
)
def test_a_list_of_types_accepts_any_of_them(drawn: tuple[str, Any], kinds: list[str]) -> None:
    value_type, value = drawn
    problems = validate_inputs({"x": value}, typed(kinds))
    assert (problems == []) == bool(SATISFIES[value_type] & set(kinds))


@given(st.dictionaries(st.text(), st.integers() | st.text() | st.none()))
def test_an_empty_schema_accepts_anything(inputs: dict[str, Any]) -> None:
    assert validate_inputs(inputs, {}) == []
    assert validate_inputs(inputs, {"type": "object", "properties": {}}) == []


def test_bool_is_not_a_number_and_int_is() -> None:
    assert validate_inputs({"x": True}, typed("integer")) != []
    assert validate_inputs({"x": False}, typed("number")) != []
    assert validate_inputs({"x": 3}, typed("number")) == []
    assert validate_inputs({"x": 3.5}, typed("integer")) != []


def test_required_inputs_must_be_present_and_not_none() -> None:
    schema = typed("string", required=True)
    assert validate_inputs({}, schema) == ["missing required input 'x'"]
    # A None is reported once, as missing, not again as the wrong type.
    assert validate_inputs({"x": None}, schema) == ["missing required input 'x'"]
    assert validate_inputs({"x": "ok"}, schema) == []
    # Required keys need no declared property.
    assert validate_inputs({}, {"required": ["a", "b"]}) == [
        "missing required input 'a'",
        "missing required input 'b'",
    ]


def test_problems_name_the_input_and_the_types() -> None:
    problems = validate_inputs(
        {"x": 5, "y": "text"},
        {
            "properties": {"x": {"type": ["string", "null"]}, "y": {"type": "string"}},
        },
    )
    assert problems == ["input 'x' must be string or null, got int"]


def test_absent_optional_undeclared_and_untyped_inputs_pass() -> None:
    schema = {
        "properties": {"x": {"type": "string"}, "free": {"description": "any"}, "odd": "x"},
    }
    assert validate_inputs({}, schema) == []
    assert validate_inputs({"free": 1, "odd": 2, "extra": object()}, schema) == []


def test_none_for_an_optional_typed_input_needs_null_among_its_types() -> None:
    assert validate_inputs({"x": None}, typed("string")) != []
    assert validate_inputs({"x": None}, typed(["string", "null"])) == []


def test_unknown_type_names_are_not_checked() -> None:
    assert validate_inputs({"x": 1}, typed("decimal")) == []
