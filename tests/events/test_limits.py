"""Validation holds every value to the documented limits, with typed errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aipartnerupflow import InvalidTextError, LimitExceededError, TaskValidationError
from aipartnerupflow.events.domain import limits
from aipartnerupflow.events.domain.validation import (
    build_spec,
    check_json,
    check_row_count,
    check_task_size,
    check_time,
    clean_message,
    encoded_size,
)
from aipartnerupflow.events.store.codec import MsgpackTranscoder


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def spec(**fields: Any) -> dict[str, Any]:
    return build_spec({"name": "n", **fields}, "t")


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"priority": limits.MAX_INT + 1}, LimitExceededError, "priority"),
        ({"priority": 2**64}, LimitExceededError, "priority"),
        ({"priority": 2**200}, LimitExceededError, "priority"),
        ({"name": "n" * 256}, LimitExceededError, "name"),
        ({"user_id": "u" * 256}, LimitExceededError, "user_id"),
        ({"parent_id": "p" * 256}, LimitExceededError, "parent_id"),
        ({"name": "a\x00b"}, InvalidTextError, "name"),
        ({"name": "a\ud800"}, InvalidTextError, "name"),
        ({"user_id": "\x00"}, InvalidTextError, "user_id"),
        ({"inputs": {"k": "\x00"}}, InvalidTextError, "inputs"),
        ({"inputs": {"\x00": 1}}, InvalidTextError, "inputs"),
        ({"inputs": {"k": ["\x00"]}}, InvalidTextError, "inputs"),
        ({"params": {"k": {"\udfff": 1}}}, InvalidTextError, "params"),
        ({"schemas": {"k": "\udc80"}}, InvalidTextError, "schemas"),
        ({"inputs": {"k": nested(limits.MAX_JSON_DEPTH)}}, LimitExceededError, "inputs"),
        ({"inputs": {"k": 2**64}}, LimitExceededError, "inputs"),
        ({"inputs": {"k": [-(2**63) - 1]}}, LimitExceededError, "inputs"),
        ({"inputs": {"k": float("nan")}}, TaskValidationError, "inputs"),
        ({"inputs": {"k": [float("inf")]}}, TaskValidationError, "inputs"),
        ({"inputs": {"k": "x" * limits.MAX_FIELD_BYTES}}, LimitExceededError, "inputs"),
        ({"dependencies": [{"id": "d" * 256}]}, LimitExceededError, "dependencies"),
        ({"dependencies": [{"id": "d", "type": "\x00"}]}, InvalidTextError, "dependencies"),
    ],
)
def test_bad_fields_are_refused_with_typed_errors(
    fields: dict[str, Any], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as caught:
        spec(**fields)
    assert caught.value.field == field
    assert len(str(caught.value)) < 300, "the message quotes the whole value"


def test_values_at_the_limits_are_accepted() -> None:
    at_depth = nested(limits.MAX_JSON_DEPTH - 1)  # the inputs object is the first level
    accepted = spec(
        id="i" * limits.MAX_KEY_CHARS,
        name="n" * limits.MAX_KEY_CHARS,
        user_id="u" * limits.MAX_KEY_CHARS,
        priority=limits.MAX_INT,
        inputs={"deep": at_depth, "big": 2**64 - 1, "small": -(2**63), "nul": "\\u0000"},
    )
    assert accepted["priority"] == limits.MAX_INT
    assert accepted["inputs"]["deep"] == at_depth
    assert accepted["inputs"]["nul"] == "\\u0000"  # an escaped backslash, not a NUL


def test_a_self_containing_value_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(LimitExceededError):
        check_json({"k": loop}, "t", "inputs")


def test_field_size_counts_the_encoding_and_task_size_sums_the_fields() -> None:
    quarter = "x" * (limits.MAX_FIELD_BYTES // 4)
    fields = {"inputs": {"a": quarter, "b": quarter, "c": quarter}}
    assert check_json(fields["inputs"], "t", "inputs") == fields["inputs"]
    with pytest.raises(LimitExceededError, match="at most"):
        spec(
            inputs={"a": quarter, "b": quarter, "c": quarter},
            params={"a": quarter, "b": quarter, "c": quarter},
            schemas={"a": quarter, "b": quarter, "c": quarter},
        )
    check_task_size(fields, "t")


def test_error_messages_are_mended_not_refused() -> None:
    assert clean_message("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert clean_message("é" * (limits.MAX_ERROR_CHARS + 5)) == "é" * limits.MAX_ERROR_CHARS
    assert clean_message(ValueError("boom")) == "boom"
    assert clean_message(None) is None


def test_row_counts_are_clamped_and_non_integers_refused() -> None:
    assert check_row_count(10**20, "limit") == limits.MAX_ROW_COUNT
    assert check_row_count(-5, "offset") == 0
    assert check_row_count("7", "limit") == 7
    for bad in ("many", None, float("inf"), float("nan")):
        with pytest.raises(TaskValidationError):
            check_row_count(bad, "limit")


def test_times_beyond_the_calendar_in_utc_are_refused() -> None:
    far = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(LimitExceededError):
        check_time(far, "t", "started_at")


def test_the_codec_refuses_what_it_cannot_hold_with_a_typed_error() -> None:
    codec = MsgpackTranscoder()
    for value in (2**64, -(2**63) - 1, "\ud800", object()):
        with pytest.raises(TaskValidationError, match="cannot be stored"):
            codec.encode({"value": value})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=4), inner, max_size=3
        )
    ),
    max_leaves=12,
)


@given(json_values)
def test_check_json_either_refuses_with_a_typed_error_or_encodes(value: Any) -> None:
    """Whatever the value, the answer is a TaskValidationError or a value the log holds."""
    try:
        clean = check_json(value, "t", "result")
    except TaskValidationError:
        return
    MsgpackTranscoder().encode(clean)  # raises (typed) if validation let through too much
    assert check_json(clean, "t", "result") == clean


@given(json_values)
def test_encoded_size_is_the_size_the_log_stores(value: Any) -> None:
    """Size limits count the bytes the log writes, empty values (counted without
    encoding them) included."""
    try:
        clean = check_json(value, "t", "inputs")
    except TaskValidationError:
        return
    assert encoded_size(clean, "t", "inputs") == len(MsgpackTranscoder().encode(clean))
