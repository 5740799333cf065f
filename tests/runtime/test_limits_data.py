"""Bad input gets the same typed error on every database, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from support.data import all_rows, refused

from aipartnerupflow import (
    InvalidTextError,
    LimitExceededError,
    TaskCreator,
    TaskRepository,
    TaskStatus,
    TaskValidationError,
)
from aipartnerupflow.events.domain import limits


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


LONG = "x" * (limits.MAX_KEY_CHARS + 1)
HUGE = "x" * (limits.MAX_FIELD_BYTES + 1)

CREATE_REFUSALS = [
    ("priority 2**31", {"priority": 2**31}, LimitExceededError, "'priority'"),
    ("priority 2**63", {"priority": 2**63}, LimitExceededError, "'priority'"),
    ("priority 2**64", {"priority": 2**64}, LimitExceededError, "'priority'"),
    ("priority 2**70", {"priority": 2**70}, LimitExceededError, "'priority'"),
    ("id too long", {"id": LONG}, LimitExceededError, "'id'"),
    ("name too long", {"name": LONG}, LimitExceededError, "'name'"),
    ("user id too long", {"user_id": LONG}, LimitExceededError, "'user_id'"),
    ("parent id too long", {"parent_id": LONG}, LimitExceededError, "'parent_id'"),
    ("name with NUL", {"name": "a\x00"}, InvalidTextError, "NUL"),
    ("id with NUL", {"id": "a\x00"}, InvalidTextError, "NUL"),
    ("user id with NUL", {"user_id": "\x00"}, InvalidTextError, "NUL"),
    ("name with surrogate", {"name": "a\ud800"}, InvalidTextError, "surrogate"),
    ("inputs with NUL", {"inputs": {"k": "\x00"}}, InvalidTextError, "'inputs'"),
    ("inputs key with NUL", {"inputs": {"k\x00": 1}}, InvalidTextError, "'inputs'"),
    ("params with surrogate", {"params": {"k": ["\udc00"]}}, InvalidTextError, "'params'"),
    ("inputs 1,200 deep", {"inputs": {"k": nested(1200)}}, LimitExceededError, "deep"),
    ("inputs 5,000 deep", {"inputs": {"k": nested(5000)}}, LimitExceededError, "deep"),
    ("inputs huge", {"inputs": {"k": HUGE}}, LimitExceededError, "bytes"),
    ("inputs int 2**64", {"inputs": {"k": 2**64}}, LimitExceededError, "64 bits"),
    ("inputs NaN", {"inputs": {"k": float("nan")}}, TaskValidationError, "'inputs'"),
    ("schemas Infinity", {"schemas": {"k": float("inf")}}, TaskValidationError, "'schemas'"),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "error", "word"), CREATE_REFUSALS, ids=[c[0] for c in CREATE_REFUSALS]
)
async def test_create_task_refuses_beyond_the_limits(
    db, repo: TaskRepository, case: str, kwargs: dict[str, Any], error: type, word: str
) -> None:
    await repo.create_task(name="root", id="r")
    async with refused(db, repo, error, word):
        await repo.create_task(**{"name": "new", **kwargs})


async def test_values_at_the_limits_are_stored_and_read_back(db, repo: TaskRepository) -> None:
    """The largest accepted values fit every database's columns."""
    key = "k" * limits.MAX_KEY_CHARS
    inputs = {"deep": nested(limits.MAX_JSON_DEPTH - 1), "big": 2**64 - 1, "tiny": -(2**63)}
    task = await repo.create_task(
        name="é" * limits.MAX_KEY_CHARS,
        id=key,
        user_id="ü" * limits.MAX_KEY_CHARS,
        priority=limits.MAX_INT,
        inputs=inputs,
    )
    child = await repo.create_task(name="child", parent_id=key, user_id="ü" * 255)
    stored = (await all_rows(repo))[key]
    assert stored["priority"] == limits.MAX_INT
    assert stored["inputs"] == inputs
    assert stored["name"] == task.name
    assert (await all_rows(repo))[child.id]["parent_id"] == key


UPDATE_REFUSALS = [
    ("priority", 2**31, LimitExceededError),
    ("priority", 2**64, LimitExceededError),
    ("name", LONG, LimitExceededError),
    ("name", "\x00", InvalidTextError),
    ("inputs", {"k": nested(100)}, LimitExceededError),
    ("params", {"k": "\ud800"}, InvalidTextError),
    ("schemas", {"k": HUGE}, LimitExceededError),
    ("dependencies", [{"id": LONG}], LimitExceededError),
]


@pytest.mark.parametrize(("field", "value", "error"), UPDATE_REFUSALS)
async def test_updates_refuse_beyond_the_limits(
    db, repo: TaskRepository, field: str, value: Any, error: type
) -> None:
    await repo.create_task(name="root", id="r")
    async with refused(db, repo, error, f"'{field}'"):
        await repo.update_task_field("r", field, value)


async def test_a_task_beyond_its_total_size_is_refused(db, repo: TaskRepository) -> None:
    """Each field may be below its limit while the task as a whole is too large."""
    third = "x" * (limits.MAX_TASK_BYTES // 3)
    await repo.create_task(name="root", id="r", inputs={"a": third}, params={"a": third})
    async with refused(db, repo, LimitExceededError, "at most"):
        await repo.update_task_schemas("r", {"a": third, "b": "y" * 1024})


async def test_results_beyond_the_limits_are_refused(db, repo: TaskRepository) -> None:
    await repo.create_task(name="root", id="r")
    for result, error in (
        ({"k": nested(70)}, LimitExceededError),
        ("\x00", InvalidTextError),
        ([2**64], LimitExceededError),
        (HUGE, LimitExceededError),
    ):
        async with refused(db, repo, error, "'result'"):
            await repo.update_task_status("r", TaskStatus.COMPLETED, result=result)


async def test_error_texts_are_mended_the_same_on_every_database(repo: TaskRepository) -> None:
    """A failure is always recorded: odd characters are replaced, long texts cut."""
    await repo.create_task(name="root", id="r")
    task = await repo.update_task_status(
        "r", TaskStatus.FAILED, error="bad\x00\ud800" + "e" * 70_000, error_type="T\x00" * 200
    )
    stored = (await all_rows(repo))["r"]
    assert stored["error"] == task.error
    assert stored["error"].startswith("bad\ufffd\ufffd")
    assert len(stored["error"]) == limits.MAX_ERROR_CHARS
    assert stored["error_type"] == ("T\ufffd" * 200)[: limits.MAX_KEY_CHARS]


async def test_trees_refuse_any_bad_task_whole(db, creator: TaskCreator, repo) -> None:
    tasks = [
        {"id": "root", "name": "root"},
        {"id": "kid", "name": "kid", "parent_id": "root", "inputs": {"k": nested(65)}},
    ]
    async with refused(db, repo, LimitExceededError, "'kid'", "'inputs'"):
        await creator.create_task_tree_from_array(tasks)
    tasks[1] = {"id": "kid", "name": "kid\x00", "parent_id": "root"}
    async with refused(db, repo, InvalidTextError, "'name'"):
        await creator.create_task_tree_from_array(tasks)


@pytest.mark.parametrize("count", [10**20, 2**63, 2**64])
async def test_listing_with_huge_limit_or_offset(repo: TaskRepository, count: int) -> None:
    await repo.create_task(name="root", id="r")
    assert [t.id for t in await repo.list_tasks(limit=count)] == ["r"]
    assert await repo.list_tasks(offset=count) == []


async def test_listing_with_a_non_integer_limit_is_refused(repo: TaskRepository) -> None:
    with pytest.raises(TaskValidationError, match="'limit'"):
        await repo.list_tasks(limit="many")
