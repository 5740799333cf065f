"""TaskRepository: every method and update rule, against a real SQLite file."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from support.data import all_rows, refused, unchanged

from aipartnerupflow import (
    DependencyError,
    DuplicateTaskError,
    ImmutableFieldError,
    TaskCreator,
    TaskNotFoundError,
    TaskRepository,
    TaskStateError,
    TaskStatus,
    TaskValidationError,
    history,
    tree_at,
)


async def make_tree(repo: TaskRepository, *specs: tuple[str, str | None]) -> None:
    """Create tasks ``(id, parent id)`` one by one, each named after its id."""
    for task_id, parent_id in specs:
        await repo.create_task(name=f"name-{task_id}", id=task_id, parent_id=parent_id)


async def ids(tasks: Any) -> list[str]:
    return [task.id for task in await tasks]


async def assert_consistent(db, repo: TaskRepository, task_id: str) -> None:
    """The projection row, the tree built from the cached aggregate and a replay of the
    log agree on the task."""
    row = (await repo.get_task_by_id(task_id)).to_dict()
    assert (await repo.build_task_tree(task_id)).task.to_dict() == row
    assert tree_at(db, task_id).task.to_dict() == row


# ------------------------------------------------------------------ create_task


async def test_create_task_defaults(db, repo: TaskRepository) -> None:
    """A task created with only a name is a pending root with the documented defaults."""
    task = await repo.create_task(name="solo", user_id="u1")
    uuid.UUID(task.id)  # a generated id is a UUID
    assert (task.status, task.priority, task.progress) == (TaskStatus.PENDING, 1, 0.0)
    assert (task.inputs, task.params, task.schemas, task.dependencies) == ({}, {}, {}, [])
    assert (task.result, task.error, task.error_type) == (None, None, None)
    assert (task.parent_id, task.user_id, task.original_task_id) == (None, "u1", None)
    assert (task.has_children, task.has_copy, task.attempt) == (False, False, 0)
    assert (task.started_at, task.completed_at) == (None, None)
    assert task.created_at == task.updated_at and task.created_at.tzinfo is not None
    assert (await repo.get_task_by_id(task.id)).to_dict() == task.to_dict()
    await assert_consistent(db, repo, task.id)


async def test_create_task_without_parent_starts_a_new_tree(repo: TaskRepository) -> None:
    """Each task without a parent is the root of its own tree."""
    first = await repo.create_task(name="one")
    second = await repo.create_task(name="two")
    assert first.tree_id != second.tree_id
    assert (await repo.get_root_task(second.id)).id == second.id


async def test_create_child_joins_parent_tree(db, repo: TaskRepository) -> None:
    """A child lands in its parent's tree, with its own fields, and marks the parent."""
    root = await repo.create_task(name="root", id="r")
    assert root.has_children is False
    child = await repo.create_task(
        name="child",
        id="c",
        parent_id="r",
        user_id="u",
        priority=0,
        dependencies=["r"],
        inputs={"a": [1, {"b": None}]},
        params={"executor_id": "x"},
        schemas={"method": "m"},
    )
    grandchild = await repo.create_task(name="grandchild", parent_id="c")
    assert child.tree_id == root.tree_id == grandchild.tree_id
    assert (child.parent_id, child.priority, child.user_id) == ("r", 0, "u")
    assert child.dependencies == [{"id": "r", "required": True, "type": "result"}]
    assert (child.inputs, child.params, child.schemas) == (
        {"a": [1, {"b": None}]},
        {"executor_id": "x"},
        {"method": "m"},
    )
    assert (await repo.get_task_by_id("r")).has_children is True
    assert (await repo.get_task_by_id("c")).has_children is True
    assert grandchild.has_children is False
    for task_id in ("r", "c", grandchild.id):
        await assert_consistent(db, repo, task_id)


async def test_create_task_with_supplied_id(repo: TaskRepository) -> None:
    """A supplied id is used as is."""
    task = await repo.create_task(name="named", id="my-own-id")
    assert task.id == "my-own-id"
    assert (await repo.get_task_by_id("my-own-id")).name == "named"


CREATE_REFUSALS: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    ("existing id", {"id": "r"}, DuplicateTaskError, ("'r'", "'id'")),
    ("id of another tree", {"id": "o", "parent_id": "r"}, DuplicateTaskError, ("'o'", "'id'")),
    ("empty id", {"id": ""}, TaskValidationError, ("'id'",)),
    (
        "unknown parent",
        {"id": "x", "parent_id": "nope"},
        TaskNotFoundError,
        ("'nope'", "'parent_id'"),
    ),
    (
        "dependency in another tree",
        {"id": "x", "parent_id": "r", "dependencies": ["o"]},
        DependencyError,
        ("'x'", "'dependencies'", "'o'"),
    ),
    (
        "unknown dependency",
        {"id": "x", "parent_id": "r", "dependencies": [{"id": "ghost"}]},
        DependencyError,
        ("'x'", "'dependencies'", "'ghost'"),
    ),
    (
        "root with dependencies",
        {"id": "x", "dependencies": ["r"]},
        DependencyError,
        ("'x'", "'dependencies'"),
    ),
    (
        "self dependency",
        {"id": "x", "parent_id": "r", "dependencies": ["x"]},
        DependencyError,
        ("'x'", "itself"),
    ),
    ("empty name", {"id": "x", "name": ""}, TaskValidationError, ("'x'", "'name'")),
    ("priority text", {"id": "x", "priority": "high"}, TaskValidationError, ("'priority'",)),
    ("negative priority", {"id": "x", "priority": -1}, TaskValidationError, ("'priority'",)),
    ("inputs list", {"id": "x", "inputs": [1]}, TaskValidationError, ("'x'", "'inputs'")),
    (
        "params not JSON",
        {"id": "x", "params": {"f": object()}},
        TaskValidationError,
        ("'x'", "'params'", "JSON"),
    ),
    ("user_id not text", {"id": "x", "user_id": 5}, TaskValidationError, ("'user_id'",)),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "error", "words"), CREATE_REFUSALS, ids=[c[0] for c in CREATE_REFUSALS]
)
async def test_create_task_refusals_record_nothing(
    db,
    repo: TaskRepository,
    case: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    words: tuple[str, ...],
) -> None:
    """Each invalid create raises a typed error naming the culprit and writes nothing."""
    await make_tree(repo, ("r", None), ("o", None))
    async with refused(db, repo, error, *words):
        await repo.create_task(**{"name": "new", **kwargs})


# ------------------------------------------------------------------------ reads


async def test_get_task_by_id_unknown_is_none(repo: TaskRepository) -> None:
    """An unknown id reads as None, not an error."""
    await repo.create_task(name="t", id="t")
    assert await repo.get_task_by_id("missing") is None


async def test_get_root_task_by_model_and_by_id(repo: TaskRepository) -> None:
    """The root is found from any task, given as a model or as an id."""
    await make_tree(repo, ("r", None), ("a", "r"), ("a1", "a"))
    for ref in ("r", "a", "a1", await repo.get_task_by_id("a1")):
        assert (await repo.get_root_task(ref)).id == "r"
    with pytest.raises(TaskNotFoundError):
        await repo.get_root_task("missing")


async def test_get_all_tasks_in_tree(repo: TaskRepository) -> None:
    """Every task of the tree, root first then breadth first, from any member; other
    trees are left out."""
    await make_tree(repo, ("r", None), ("a", "r"), ("a1", "a"), ("b", "r"), ("other", None))
    expected = ["r", "a", "b", "a1"]
    assert await ids(repo.get_all_tasks_in_tree("a1")) == expected
    assert await ids(repo.get_all_tasks_in_tree(await repo.get_task_by_id("b"))) == expected
    assert await ids(repo.get_all_tasks_in_tree("other")) == ["other"]


async def test_build_task_tree_children_in_creation_order(repo: TaskRepository) -> None:
    """Children come in creation order (not id order), recursively, from any node."""
    await make_tree(repo, ("r", None), ("z", "r"), ("a", "r"), ("m", "r"), ("z2", "z"), ("z1", "z"))
    node = await repo.build_task_tree("r")
    assert node.task.id == "r"
    assert [child.task.id for child in node.children] == ["z", "a", "m"]
    assert [child.task.id for child in node.children[0].children] == ["z2", "z1"]
    assert all(child.children == [] for child in node.children[1:])
    subtree = await repo.build_task_tree(await repo.get_task_by_id("z"))
    assert [t.id for t in subtree.tasks()] == ["z", "z2", "z1"]
    rows = await all_rows(repo)
    assert all(task.to_dict() == rows[task.id] for task in node.tasks())


async def test_build_task_tree_returns_copies(repo: TaskRepository) -> None:
    """Mutating a returned model's JSON values does not leak into later reads."""
    await repo.create_task(name="t", id="t", inputs={"list": [1]})
    node = await repo.build_task_tree("t")
    node.task.inputs["list"].append(2)
    assert (await repo.build_task_tree("t")).task.inputs == {"list": [1]}


async def test_get_all_children_recursive_breadth_first(repo: TaskRepository) -> None:
    """Children, grandchildren and deeper, level by level; a leaf has none."""
    await make_tree(
        repo, ("r", None), ("a", "r"), ("b", "r"), ("a1", "a"), ("b1", "b"), ("a11", "a1")
    )
    assert await ids(repo.get_all_children_recursive("r")) == ["a", "b", "a1", "b1", "a11"]
    assert await ids(repo.get_all_children_recursive("a")) == ["a1", "a11"]
    assert await repo.get_all_children_recursive("a11") == []
    with pytest.raises(TaskNotFoundError):
        await repo.get_all_children_recursive("missing")


async def test_find_dependent_tasks_direct_and_recursive(repo: TaskRepository) -> None:
    """find_dependent_tasks: the direct dependents (as 0.9.0);
    find_dependent_tasks_recursive: direct and indirect ones, each once (a diamond
    counts its tip once)."""
    await repo.create_task(name="r", id="r")
    await repo.create_task(name="a", id="a", parent_id="r", dependencies=["r"])
    await repo.create_task(name="b", id="b", parent_id="r", dependencies=["r"])
    await repo.create_task(name="c", id="c", parent_id="r", dependencies=["a", "b"])
    await repo.create_task(name="d", id="d", parent_id="r", dependencies=["c"])
    await repo.create_task(name="lone", id="lone", parent_id="r")
    assert await ids(repo.find_dependent_tasks("r")) == ["a", "b"]
    assert await ids(repo.find_dependent_tasks("b")) == ["c"]
    assert await ids(repo.find_dependent_tasks_recursive("r")) == ["a", "b", "c", "d"]
    assert await ids(repo.find_dependent_tasks_recursive("b")) == ["c", "d"]
    assert await repo.find_dependent_tasks("lone") == []
    assert await repo.find_dependent_tasks_recursive("lone") == []
    for query in (repo.find_dependent_tasks, repo.find_dependent_tasks_recursive):
        with pytest.raises(TaskNotFoundError):
            await query("missing")


async def test_list_tasks_filters(repo: TaskRepository) -> None:
    """Each filter (user_id, status, parent_id, root_only) and their combination."""
    await repo.create_task(name="r1", id="r1", user_id="u1")
    await repo.create_task(name="c1", id="c1", user_id="u1", parent_id="r1")
    await repo.create_task(name="c2", id="c2", user_id="u2", parent_id="r1")
    await repo.create_task(name="r2", id="r2", user_id="u2")
    await repo.update_task_status("c1", TaskStatus.COMPLETED)
    await repo.update_task_status("r2", TaskStatus.COMPLETED)
    assert await ids(repo.list_tasks()) == ["r2", "c2", "c1", "r1"]
    assert await ids(repo.list_tasks(user_id="u1")) == ["c1", "r1"]
    assert await ids(repo.list_tasks(status="completed")) == ["r2", "c1"]
    assert await ids(repo.list_tasks(parent_id="r1")) == ["c2", "c1"]
    assert await ids(repo.list_tasks(root_only=True)) == ["r2", "r1"]
    assert await ids(repo.list_tasks(user_id="u2", status="completed", root_only=True)) == ["r2"]
    assert await ids(repo.list_tasks(user_id="u1", parent_id="r1", status="pending")) == []
    assert await repo.list_tasks(user_id="nobody") == []


async def test_list_tasks_newest_first_with_limit_and_offset(repo: TaskRepository) -> None:
    """Newest first, ``limit`` rows from ``offset``; 100 rows by default."""
    for index in range(5):
        await repo.create_task(name=f"t{index}", id=f"t{index}")
    assert await ids(repo.list_tasks()) == ["t4", "t3", "t2", "t1", "t0"]
    assert await ids(repo.list_tasks(limit=2)) == ["t4", "t3"]
    assert await ids(repo.list_tasks(limit=2, offset=2)) == ["t2", "t1"]
    assert await ids(repo.list_tasks(offset=4)) == ["t0"]
    assert await repo.list_tasks(offset=5) == []
    assert await repo.list_tasks(limit=0) == []


async def test_list_tasks_default_limit_is_100(creator: TaskCreator, repo: TaskRepository) -> None:
    """Without ``limit`` at most 100 tasks come back."""
    tasks = [{"id": "root", "name": "root"}]
    tasks += [{"id": f"c{i}", "name": f"c{i}", "parent_id": "root"} for i in range(104)]
    await creator.create_task_tree_from_array(tasks)
    assert len(await repo.list_tasks()) == 100
    assert len(await repo.list_tasks(limit=1000)) == 105


# ----------------------------------------------------------- update_task_status


async def test_status_in_progress_sets_started_at(db, repo: TaskRepository) -> None:
    """Starting a task stamps started_at, counts the attempt and keeps progress at 0."""
    created = await repo.create_task(name="t", id="t")
    started = await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    assert started.status == TaskStatus.IN_PROGRESS
    assert started.started_at is not None and started.started_at >= created.created_at
    assert (started.progress, started.attempt, started.completed_at) == (0.0, 1, None)
    assert started.updated_at == started.started_at
    await assert_consistent(db, repo, "t")


async def test_progress_only_update_while_in_progress(db, repo: TaskRepository) -> None:
    """While running, a status call with a new progress only records the progress:
    started_at and the attempt stay; the same progress again records nothing."""
    await repo.create_task(name="t", id="t")
    started = await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    moved = await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.25)
    assert moved.progress == 0.25
    assert (moved.started_at, moved.attempt) == (started.started_at, 1)
    assert moved.updated_at > started.updated_at
    async with unchanged(db, repo):
        await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.25)
    assert [e["type"] for e in history(db, task_id="t")] == ["created", "started", "progress"]
    await assert_consistent(db, repo, "t")


async def test_status_completed_sets_progress_result_and_completed_at(
    db, repo: TaskRepository
) -> None:
    """Completion records the result, progress 1.0 and completed_at."""
    await repo.create_task(name="t", id="t")
    started = await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.3)
    done = await repo.update_task_status("t", TaskStatus.COMPLETED, result={"rows": [1, 2]})
    assert (done.status, done.progress, done.result) == ("completed", 1.0, {"rows": [1, 2]})
    assert done.completed_at is not None and done.completed_at >= started.started_at
    assert done.started_at == started.started_at
    assert (done.error, done.error_type) == (None, None)
    await assert_consistent(db, repo, "t")


async def test_status_completed_straight_from_pending(db, repo: TaskRepository) -> None:
    """A pending task may complete without starting: one 'completed' event, no start."""
    await repo.create_task(name="t", id="t")
    done = await repo.update_task_status("t", TaskStatus.COMPLETED, result={"n": 1})
    assert (done.status, done.progress, done.result, done.started_at) == (
        "completed",
        1.0,
        {"n": 1},
        None,
    )
    assert [e["type"] for e in history(db, task_id="t")] == ["created", "completed"]
    await assert_consistent(db, repo, "t")


async def test_status_failed_records_error_and_type(db, repo: TaskRepository) -> None:
    """Failure records error, error_type and completed_at; progress stays where it was."""
    await repo.create_task(name="t", id="t")
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS, progress=0.4)
    failed = await repo.update_task_status(
        "t", TaskStatus.FAILED, error="disk full", error_type="OSError"
    )
    assert (failed.status, failed.error, failed.error_type) == ("failed", "disk full", "OSError")
    assert (failed.progress, failed.result) == (0.4, None)
    assert failed.completed_at is not None
    await assert_consistent(db, repo, "t")


@pytest.mark.parametrize("again", [TaskStatus.PENDING, TaskStatus.IN_PROGRESS])
@pytest.mark.parametrize("outcome", [TaskStatus.COMPLETED, TaskStatus.FAILED])
async def test_restart_clears_old_outcome(
    db, repo: TaskRepository, outcome: str, again: str
) -> None:
    """Going back to pending or in_progress forgets the last result, error and
    completed_at; in_progress counts a new attempt, pending clears started_at."""
    await repo.create_task(name="t", id="t")
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS)
    await repo.update_task_status(
        "t", outcome, result={"old": True}, error="old error", error_type="OldError"
    )
    fresh = await repo.update_task_status("t", again)
    assert fresh.status == again
    assert (fresh.result, fresh.error, fresh.error_type, fresh.completed_at) == (None,) * 4
    assert fresh.progress == 0.0
    if again == TaskStatus.IN_PROGRESS:
        assert fresh.attempt == 2 and fresh.started_at is not None
    else:
        assert fresh.started_at is None
    await assert_consistent(db, repo, "t")


async def test_status_supplied_timestamps_are_kept(db, repo: TaskRepository) -> None:
    """Explicit started_at / completed_at are recorded, as UTC."""
    await repo.create_task(name="t", id="t")
    start = datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    end = datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    await repo.update_task_status("t", TaskStatus.IN_PROGRESS, started_at=start)
    done = await repo.update_task_status("t", TaskStatus.COMPLETED, completed_at=end)
    assert (done.started_at, done.completed_at) == (start, end)
    assert done.completed_at.utcoffset() == timedelta(0)
    await assert_consistent(db, repo, "t")


async def test_status_naive_timestamp_is_taken_as_utc(db, repo: TaskRepository) -> None:
    """A naive started_at is taken as UTC (as the database columns store it), not a crash."""
    await repo.create_task(name="t", id="t")
    started = await repo.update_task_status(
        "t", TaskStatus.IN_PROGRESS, started_at=datetime(2024, 5, 6, 7, 8, 9)
    )
    assert started.started_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    await assert_consistent(db, repo, "t")


async def test_status_values_are_stored_as_read_back(db, repo: TaskRepository) -> None:
    """Results and error types come back from every read path exactly as stored: JSON
    forms (tuples as lists, keys as strings) and error types as text."""
    await repo.create_task(name="t", id="t")
    done = await repo.update_task_status(
        "t", TaskStatus.FAILED, result={"pair": (1, 2), "by_id": {7: "x"}}, error_type=404
    )
    assert done.result == {"pair": [1, 2], "by_id": {"7": "x"}}
    assert done.error_type == "404"
    await assert_consistent(db, repo, "t")


STATUS_REFUSALS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("unknown status", {"status": "done"}, TaskValidationError, "'status'"),
    ("progress above 1", {"progress": 1.5}, TaskValidationError, "'progress'"),
    ("progress below 0", {"progress": -0.1}, TaskValidationError, "'progress'"),
    ("progress text", {"progress": "half"}, TaskValidationError, "'progress'"),
    ("progress bool", {"progress": True}, TaskValidationError, "'progress'"),
    ("progress NaN", {"progress": float("nan")}, TaskValidationError, "'progress'"),
    ("result not JSON", {"result": {"s": {1, 2}}}, TaskValidationError, "'result'"),
    ("result too big an int", {"result": {"n": 2**70}}, TaskValidationError, "'result'"),
    ("started_at text", {"started_at": "yesterday"}, TaskValidationError, "'started_at'"),
    ("unknown task", {"task_id": "zz"}, TaskNotFoundError, "'zz'"),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "error", "word"), STATUS_REFUSALS, ids=[c[0] for c in STATUS_REFUSALS]
)
async def test_update_task_status_refusals(
    db, repo: TaskRepository, case: str, kwargs: dict[str, Any], error: type[Exception], word: str
) -> None:
    """Invalid status changes raise typed errors and record nothing."""
    await repo.create_task(name="t", id="t")
    call = {"task_id": "t", "status": TaskStatus.IN_PROGRESS, **kwargs}
    async with refused(db, repo, error, word):
        await repo.update_task_status(**call)


# ---------------------------------------------------------------- field updates

FIELD_UPDATES: list[tuple[str, str, Any]] = [
    ("update_task_name", "name", "renamed"),
    ("update_task_priority", "priority", 0),
    ("update_task_priority", "priority", 7),
    ("update_task_inputs", "inputs", {"q": [1, 2], "nested": {"k": None}}),
    ("update_task_params", "params", {"timeout": 3.5}),
    ("update_task_schemas", "schemas", {"method": "m", "input_schema": {"type": "object"}}),
]


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.COMPLETED])
@pytest.mark.parametrize(("method", "field", "value"), FIELD_UPDATES)
async def test_field_updates_persist_in_any_status(
    db, repo: TaskRepository, method: str, field: str, value: Any, status: str
) -> None:
    """Each field update is stored, advances updated_at, appears in the history with
    old and new values, and is allowed whatever the task's status."""
    await repo.create_task(name="t", id="t", inputs={"old": 1})
    before = await repo.update_task_status("t", status)
    old = getattr(before, field)
    updated = await getattr(repo, method)("t", value)
    assert getattr(updated, field) == value
    assert getattr(await repo.get_task_by_id("t"), field) == value
    assert updated.updated_at > before.updated_at
    assert updated.status == status
    last = history(db, task_id="t")[-1]
    assert last["type"] == "updated"
    assert last["changes"][field] == {"old": old, "new": value}
    await assert_consistent(db, repo, "t")


async def test_update_task_field_by_name(db, repo: TaskRepository) -> None:
    """update_task_field changes a named field; an unknown field is refused."""
    await repo.create_task(name="t", id="t")
    assert (await repo.update_task_field("t", "name", "other")).name == "other"
    async with refused(db, repo, TaskValidationError, "'status'"):
        await repo.update_task_field("t", "status", TaskStatus.COMPLETED)


async def test_update_to_the_same_value_records_nothing(db, repo: TaskRepository) -> None:
    """Setting a field to its stored value appends no event and keeps updated_at."""
    await repo.create_task(name="t", id="t", priority=3, inputs={"a": 1})
    async with unchanged(db, repo):
        await repo.update_task_priority("t", 3)
        await repo.update_task_inputs("t", {"a": 1})
        await repo.update_task_name("t", "t")


async def test_stored_inputs_do_not_alias_the_callers_objects(db, repo: TaskRepository) -> None:
    """Changing a dict after handing it over changes nothing that was recorded."""
    inputs = {"list": [1]}
    await repo.create_task(name="t", id="t")
    await repo.update_task_inputs("t", inputs)
    inputs["list"].append(2)
    assert (await repo.get_task_by_id("t")).inputs == {"list": [1]}
    await assert_consistent(db, repo, "t")


async def test_nested_values_are_stored_as_read_back(db, repo: TaskRepository) -> None:
    """Nested tuples and non-text keys come back the same from the projection, the
    cached tree and a replay of the log (their JSON form)."""
    await repo.create_task(name="t", id="t")
    updated = await repo.update_task_inputs("t", {"pair": (1, 2), "by_id": {3: "c"}})
    assert updated.inputs == {"pair": [1, 2], "by_id": {"3": "c"}}
    await assert_consistent(db, repo, "t")


BAD_VALUES: list[tuple[str, str, Any]] = [
    ("update_task_name", "name", ""),
    ("update_task_name", "name", "   "),
    ("update_task_name", "name", 7),
    ("update_task_name", "name", None),
    ("update_task_priority", "priority", "high"),
    ("update_task_priority", "priority", True),
    ("update_task_priority", "priority", -1),
    ("update_task_priority", "priority", 1.5),
    ("update_task_inputs", "inputs", [1, 2]),
    ("update_task_inputs", "inputs", "text"),
    ("update_task_inputs", "inputs", {1: "non-text key"}),
    ("update_task_inputs", "inputs", {"when": datetime.now(UTC)}),
    ("update_task_inputs", "inputs", {"huge": 2**64}),
    ("update_task_params", "params", {"f": object()}),
    ("update_task_params", "params", 5),
    ("update_task_schemas", "schemas", {"k": float("nan")}),
    ("update_task_schemas", "schemas", {"k": float("inf")}),
]


@pytest.mark.parametrize(("method", "field", "value"), BAD_VALUES)
async def test_field_updates_refuse_wrong_values(
    db, repo: TaskRepository, method: str, field: str, value: Any
) -> None:
    """Wrong types and non-JSON values raise a TaskValidationError naming task and field."""
    await repo.create_task(name="t", id="t")
    async with refused(db, repo, TaskValidationError, "'t'", f"'{field}'"):
        await getattr(repo, method)("t", value)


async def test_field_update_of_unknown_task(db, repo: TaskRepository) -> None:
    """Updating a task that does not exist is a TaskNotFoundError."""
    await repo.create_task(name="t", id="t")
    async with refused(db, repo, TaskNotFoundError, "'ghost'"):
        await repo.update_task_name("ghost", "x")


@pytest.mark.parametrize("field", ["parent_id", "user_id"])
@pytest.mark.parametrize("value", ["other", None, "same"])
async def test_parent_and_user_never_change(
    db, repo: TaskRepository, field: str, value: str | None
) -> None:
    """parent_id and user_id are refused whatever the value, even the stored one."""
    await repo.create_task(name="p", id="same", user_id="same")
    await repo.create_task(name="t", id="t", parent_id="same", user_id="same")
    async with refused(db, repo, ImmutableFieldError, "'t'", f"'{field}'"):
        await repo.update_task_field("t", field, value)


async def test_update_task_is_all_or_nothing(db, repo: TaskRepository) -> None:
    """update_task applies several fields together; one bad value refuses them all,
    and the cached tree does not keep the half-applied change."""
    await repo.create_task(name="t", id="t")
    both = await repo.update_task("t", name="n2", priority=4, status="in_progress", progress=0.5)
    assert (both.name, both.priority, both.status, both.progress) == ("n2", 4, "in_progress", 0.5)
    async with refused(db, repo, TaskValidationError, "'priority'"):
        await repo.update_task("t", name="never", priority="bad")
    assert (await repo.build_task_tree("t")).task.name == "n2"
    async with refused(db, repo, TaskValidationError, "'progress'"):
        await repo.update_task("t", progress=1.5)
    await assert_consistent(db, repo, "t")


# ------------------------------------------------------------------ dependencies


@pytest.fixture
async def dep_tree(repo: TaskRepository) -> TaskRepository:
    """r with children a, b, c; b depends on a."""
    await make_tree(repo, ("r", None), ("a", "r"), ("c", "r"))
    await repo.create_task(name="b", id="b", parent_id="r", dependencies=["a"])
    return repo


async def test_update_dependencies_persisted_normalised(db, dep_tree: TaskRepository) -> None:
    """New dependencies are stored as ``{id, required, type}`` and replace the old ones."""
    updated = await dep_tree.update_task_dependencies("b", ["c", {"id": "r", "required": False}])
    assert updated.dependencies == [
        {"id": "c", "required": True, "type": "result"},
        {"id": "r", "required": False, "type": "result"},
    ]
    assert await ids(dep_tree.find_dependent_tasks("a")) == []
    cleared = await dep_tree.update_task_dependencies("b", [])
    assert cleared.dependencies == []
    await assert_consistent(db, dep_tree, "b")


DEPENDENCY_REFUSALS: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("unknown id", "a", ["ghost"], ("'a'", "'ghost'", "'dependencies'")),
    ("other tree", "a", ["elsewhere"], ("'a'", "'elsewhere'")),
    ("self", "a", ["a"], ("'a'", "itself")),
    ("two-task cycle", "a", ["b"], ("'a'", "cycle")),
    ("listed twice", "c", ["a", "a"], ("'c'", "twice")),
    ("required not bool", "c", [{"id": "a", "required": "yes"}], ("'c'", "'required'")),
    ("entry without id", "c", [{"required": True}], ("'c'", "'id'")),
]


@pytest.mark.parametrize(
    ("case", "task_id", "deps", "words"),
    DEPENDENCY_REFUSALS,
    ids=[c[0] for c in DEPENDENCY_REFUSALS],
)
async def test_update_dependencies_refusals(
    db, dep_tree: TaskRepository, case: str, task_id: str, deps: Any, words: tuple[str, ...]
) -> None:
    """Unknown, foreign, self and cyclic dependencies raise DependencyError."""
    await dep_tree.create_task(name="elsewhere", id="elsewhere")
    async with refused(db, dep_tree, DependencyError, *words):
        await dep_tree.update_task_dependencies(task_id, deps)


async def test_update_dependencies_longer_cycle(db, dep_tree: TaskRepository) -> None:
    """A cycle through several tasks is found and names its path."""
    await dep_tree.update_task_dependencies("c", ["b"])
    async with refused(db, dep_tree, DependencyError, "cycle", "'a'"):
        await dep_tree.update_task_dependencies("a", ["c"])


async def test_update_dependencies_not_a_list(db, dep_tree: TaskRepository) -> None:
    """A dict or a bare string is not a dependency list."""
    for value in ({"id": "a"}, "a"):
        async with refused(db, dep_tree, TaskValidationError, "'dependencies'"):
            await dep_tree.update_task_dependencies("c", value)


@pytest.mark.parametrize(
    "status", [TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, TaskStatus.FAILED, "cancelled"]
)
async def test_update_dependencies_only_while_pending(
    db, dep_tree: TaskRepository, status: str
) -> None:
    """Dependencies of a task that is no longer pending never change."""
    await dep_tree.update_task_status("c", status)
    async with refused(db, dep_tree, TaskStateError, "'c'", "pending", status):
        await dep_tree.update_task_dependencies("c", ["a"])


async def test_update_dependencies_refused_when_a_dependent_runs(
    db, dep_tree: TaskRepository
) -> None:
    """A task whose dependent already runs keeps its dependencies; once the dependent is
    pending again they may change."""
    await dep_tree.update_task_status("b", TaskStatus.IN_PROGRESS)
    async with refused(db, dep_tree, DependencyError, "'a'", "'b'", "in_progress"):
        await dep_tree.update_task_dependencies("a", ["c"])
    await dep_tree.update_task_status("b", TaskStatus.PENDING)
    assert (await dep_tree.update_task_dependencies("a", ["c"])).dependencies[0]["id"] == "c"


# ----------------------------------------------------------------------- delete


async def test_delete_task_removes_descendants(db, repo: TaskRepository) -> None:
    """Deleting a task removes it and every descendant, nothing else; the parent's
    has_children follows what is left."""
    await make_tree(repo, ("r", None), ("a", "r"), ("a1", "a"), ("a11", "a1"), ("b", "r"))
    assert await repo.delete_task("a") is True
    assert await ids(repo.list_tasks()) == ["b", "r"]
    assert await ids(repo.get_all_tasks_in_tree("r")) == ["r", "b"]
    assert (await repo.get_task_by_id("r")).has_children is True
    await repo.delete_task("b")
    assert (await repo.get_task_by_id("r")).has_children is False
    await assert_consistent(db, repo, "r")


async def test_delete_root_removes_the_tree(repo: TaskRepository) -> None:
    """Deleting a root removes its whole tree and leaves other trees alone; its id may
    then be used again."""
    await make_tree(repo, ("r", None), ("a", "r"), ("keep", None))
    await repo.delete_task("r")
    assert await ids(repo.list_tasks()) == ["keep"]
    again = await repo.create_task(name="reborn", id="r")
    assert (again.name, again.has_children) == ("reborn", False)


async def test_delete_refused_while_a_task_outside_depends_on_it(db, repo: TaskRepository) -> None:
    """A dependency from outside the deleted subtree blocks the delete; dependencies
    inside the subtree do not."""
    await make_tree(repo, ("r", None), ("a", "r"))
    await repo.create_task(name="a1", id="a1", parent_id="a")
    await repo.create_task(name="a2", id="a2", parent_id="a", dependencies=["a1"])
    await repo.create_task(name="b", id="b", parent_id="r", dependencies=["a2"])
    async with refused(db, repo, DependencyError, "'a'", "'b'", "'a2'"):
        await repo.delete_task("a")
    async with refused(db, repo, DependencyError, "'b'"):
        await repo.delete_task("a2")
    await repo.update_task_dependencies("b", [])
    await repo.delete_task("a")
    assert await ids(repo.list_tasks()) == ["b", "r"]


async def test_delete_unknown_task(db, repo: TaskRepository) -> None:
    """Deleting an unknown (or already deleted) task answers False (as 0.9.0) and writes
    nothing."""
    await make_tree(repo, ("r", None), ("a", "r"))
    assert await repo.delete_task("a") is True
    for task_id in ("a", "never"):
        async with unchanged(db, repo):
            assert await repo.delete_task(task_id) is False


async def test_history_of_deleted_task_stays_readable(db, repo: TaskRepository) -> None:
    """The log keeps a deleted task's history, ending with its deletion, and time
    travel still shows it before the delete."""
    await make_tree(repo, ("r", None), ("a", "r"), ("a1", "a"))
    await repo.update_task_name("a1", "renamed")
    before_delete = (await repo.build_task_tree("r")).to_dict()
    position = history(db, task_id="a1")[-1]["position"]
    await repo.delete_task("a")
    entries = history(db, task_id="a1")
    assert [e["type"] for e in entries] == ["created", "updated", "deleted"]
    assert entries[-1]["changes"]["name"] == {"old": "renamed", "new": None}
    assert [e["type"] for e in history(db, task_id="a")] == ["created", "deleted"]
    assert tree_at(db, "r", position=position).to_dict() == before_delete
