"""Property, on every database: an update or a task array with anything wrong in it is
refused whole with a typed error naming each problem, and writes nothing."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.data import log_state

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskRepository,
    TaskValidationError,
    UpdateRejectedError,
)

TREE = [
    {"id": "r", "name": "root"},
    {"id": "a", "name": "a", "parent_id": "r"},
    {"id": "t", "name": "t", "parent_id": "r", "dependencies": ["a"]},
]

#: ``(field, value)`` pairs that an update of task ``t`` must refuse.
BAD = [
    ("name", ""),
    ("name", 3),
    ("priority", -1),
    ("priority", "1"),
    ("priority", True),
    ("inputs", [1]),
    ("params", "x"),
    ("schemas", {1: 2}),
    ("dependencies", ["ghost"]),
    ("dependencies", ["t"]),
    ("dependencies", {"id": "a"}),
    ("parent_id", "a"),
    ("user_id", "someone"),
    ("progress", 1.5),
    ("progress", float("nan")),
    ("progress", "half"),
    ("status", "done"),
    ("result", {"when": object()}),
    ("result", float("inf")),
    ("error", 5),
    ("error_type", ["E"]),
    ("started_at", "yesterday"),
    ("colour", "red"),
    ("has_children", True),
]
#: ``(field, value)`` pairs that are fine on their own.
GOOD = [
    ("name", "renamed"),
    ("priority", 0),
    ("inputs", {"k": [1]}),
    ("params", {}),
    ("result", {"r": 1}),
    ("progress", 0.5),
    ("error", "note"),
    ("dependencies", []),
]

bad_changes = st.lists(st.sampled_from(BAD), min_size=1, max_size=5, unique_by=lambda p: p[0])
good_changes = st.lists(st.sampled_from(GOOD), max_size=4, unique_by=lambda p: p[0])


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def planted(db: Database, loop: asyncio.AbstractEventLoop) -> Database:
    loop.run_until_complete(TaskCreator(db).create_task_tree_from_array(copy.deepcopy(TREE)))
    return db


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=bad_changes, good=good_changes)
def test_a_refused_update_writes_nothing(
    planted: Database,
    loop: asyncio.AbstractEventLoop,
    bad: list[tuple[str, Any]],
    good: list[tuple[str, Any]],
) -> None:
    repo = TaskRepository(planted)
    changes = dict(good) | dict(bad)
    before = loop.run_until_complete(log_state(planted, repo))
    with pytest.raises(UpdateRejectedError) as caught:
        loop.run_until_complete(repo.update_task("t", **changes))
    assert {problem.field for problem in caught.value.problems} == dict(bad).keys()
    assert loop.run_until_complete(log_state(planted, repo)) == before


def _drop_name(tasks: list[dict[str, Any]], i: int) -> None:
    tasks[i].pop("name", None)


def _second_root(tasks: list[dict[str, Any]], i: int) -> None:
    tasks[i]["parent_id"] = None
    tasks[0]["parent_id"] = None


def _cycle(tasks: list[dict[str, Any]], i: int) -> None:
    tasks[0]["dependencies"] = [tasks[-1]["id"]]
    tasks[-1]["dependencies"] = [tasks[0]["id"]]


MUTATIONS: list[Callable[[list[dict[str, Any]], int], None]] = [
    _drop_name,
    _second_root,
    _cycle,
    lambda tasks, i: tasks[i].update(colour="red"),
    lambda tasks, i: tasks[i].update(priority=-2),
    lambda tasks, i: tasks[i].update(inputs="x"),
    lambda tasks, i: tasks[i].update(dependencies=[{"name": "ghost"}]),
    lambda tasks, i: tasks[i].update(dependencies=[{"required": True}]),
    lambda tasks, i: tasks[i].update(id=tasks[0]["id"]),
    lambda tasks, i: tasks[i].update(parent_id="ghost"),
    lambda tasks, i: tasks[i].update(id="r"),  # taken by the planted tree
]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(2, 6),
    where=st.integers(0, 5),
    mutations=st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3),
    ignored=st.dictionaries(
        st.sampled_from(["status", "result", "progress", "has_copy"]), st.integers(0, 1)
    ),
)
def test_a_refused_array_writes_nothing(
    planted: Database,
    loop: asyncio.AbstractEventLoop,
    size: int,
    where: int,
    mutations: list[Callable[[list[dict[str, Any]], int], None]],
    ignored: dict[str, Any],
) -> None:
    """A chain of ``size`` tasks (with ignored stored fields) spoiled by some mutations."""
    tasks = [
        {"id": f"n{k}", "name": f"n{k}", **ignored, "parent_id": f"n{k - 1}" if k else None}
        for k in range(size)
    ]
    for mutate in mutations:
        mutate(tasks, 1 + where % (size - 1))
    repo = TaskRepository(planted)
    before = loop.run_until_complete(log_state(planted, repo))
    with pytest.raises(TaskValidationError):
        loop.run_until_complete(TaskCreator(planted).create_task_tree_from_array(tasks))
    assert loop.run_until_complete(log_state(planted, repo)) == before
