"""Forking a tree from any point of its log: lineage, overrides, reruns, refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.properties import fresh_run, mostly
from support.replay import create_and_run, pipeline, run, sum_task

from aipartnerupflow import (
    TaskNotFoundError,
    TaskStatus,
    TaskValidationError,
    history,
    log_position,
    tree_at,
)
from aipartnerupflow.projections.lineage import lineage
from aipartnerupflow.runtime.fork import fork, fork_async


def by_source(node: Any) -> dict[str, Any]:
    return {n.task.original_task_id: n.task for n in node.walk()}


def positions(db: Any, root_id: str) -> list[dict[str, Any]]:
    return history(db, tree_id=str(tree_at(db, root_id).task.tree_id))


def started_ids(db: Any, root_id: str) -> list[str]:
    return [e["task_id"] for e in positions(db, root_id) if e["type"] == "started"]


async def test_a_fork_keeps_completed_tasks_and_resets_the_rest(db) -> None:
    await create_and_run(db, pipeline("s-"))
    entries = positions(db, "s-root")
    # Right after a completed: a done, the others not yet.
    cut = next(e["position"] for e in entries if e["type"] == "completed")
    done = {t.id for t in tree_at(db, "s-root", cut).tasks() if t.status == TaskStatus.COMPLETED}
    assert done == {"s-a"} or done == {"s-c"}
    forked = await fork_async(db, "s-root", position=cut)
    tasks = by_source(forked)
    assert set(tasks) == {"s-root", "s-a", "s-b", "s-c"}
    for source_id, task in tasks.items():
        expected = TaskStatus.COMPLETED if source_id in done else TaskStatus.PENDING
        assert task.status == expected
        assert task.tree_id == forked.task.tree_id
        assert task.id != source_id
    kept = tasks[next(iter(done))]
    source = tree_at(db, next(iter(done)))
    assert (kept.result, kept.started_at, kept.attempt) == (
        source.task.result,
        source.task.started_at,
        source.task.attempt,
    )
    # The fork's tasks depend on each other, not on the source's.
    assert tasks["s-b"].dependencies == [{**tasks["s-b"].dependencies[0], "id": tasks["s-a"].id}]


async def test_lineage_is_recorded_and_history_shows_the_branch(db) -> None:
    await create_and_run(db, pipeline("l-"))
    source_tree = str(tree_at(db, "l-root").task.tree_id)
    forked = fork(db, "l-root", position=5, overrides={"l-a": {"inputs": {"n": 2}}})
    found = lineage(db, forked.task.id)
    assert found is not None
    assert (found["source_tree_id"], found["source_root_id"]) == (source_tree, "l-root")
    assert found["position"] <= 5
    assert found["overrides"] == {"l-a": {"inputs": {"n": 2}}}
    branch = history(db, task_id=forked.task.id)[0]
    assert branch["type"] == "tree_forked"
    assert branch["cause"]["fork_of"] == {
        "tree_id": source_tree,
        "task_id": "l-root",
        "position": found["position"],
    }
    assert lineage(db, "l-root") is None


async def test_forking_never_writes_the_source_stream(db) -> None:
    await create_and_run(db, pipeline("n-"))
    before = positions(db, "n-root")
    forked = fork(db, "n-root", position=8, rerun=["n-c"])
    await run(db, forked.task.id)
    assert positions(db, "n-root") == before


async def test_overrides_reset_the_task_and_its_dependents(db) -> None:
    await create_and_run(db, pipeline("o-"))
    forked = fork(db, "o-root", overrides={"o-a": {"inputs": {"n": 5}}})
    tasks = by_source(forked)
    assert {s: t.status for s, t in tasks.items()} == {
        "o-root": TaskStatus.PENDING,
        "o-a": TaskStatus.PENDING,
        "o-b": TaskStatus.PENDING,
        "o-c": TaskStatus.COMPLETED,
    }
    assert tasks["o-a"].inputs == {"n": 5}
    summary = await run(db, forked.task.id)
    assert summary["status"] == TaskStatus.COMPLETED
    assert summary["result"] == {"value": 100 + 10 + 5}
    # Only what the override touched ran again.
    ran = started_ids(db, forked.task.id)
    assert sorted(ran) == sorted(tasks[s].id for s in ("o-root", "o-a", "o-b"))


async def test_rerun_forces_named_tasks_by_id_or_name(db) -> None:
    await create_and_run(db, pipeline("r-"))
    forked = fork(db, "r-root", rerun=["r-c"])
    statuses = {s: t.status for s, t in by_source(forked).items()}
    assert [s for s, st in statuses.items() if st == TaskStatus.PENDING] == ["r-c"]
    await run(db, forked.task.id)
    assert started_ids(db, forked.task.id) == [by_source(forked)["r-c"].id]


async def test_a_fork_of_a_fork(db) -> None:
    await create_and_run(db, pipeline("ff-"))
    first = fork(db, "ff-root", overrides={"ff-b": {"params": {"note": "x"}}})
    await run(db, first.task.id)
    second = fork(db, first.task.id, overrides={"ff-b": {"inputs": {"n": 20}}})
    chain = lineage(db, second.task.id)
    assert chain is not None and chain["source_root_id"] == first.task.id
    # Names resolve in the fork too; the task ids are the fork's own.
    assert chain["overrides"] == {by_source(first)["ff-b"].id: {"inputs": {"n": 20}}}
    summary = await run(db, second.task.id)
    assert summary["result"] == {"value": 100 + 20 + 1}
    assert by_source(second)[by_source(first)["ff-b"].id].params == {"note": "x"}


async def test_a_subtree_fork_drops_dependencies_outside_it(db) -> None:
    await create_and_run(
        db,
        [
            sum_task("t-root", n=1),
            sum_task("t-mid", "t-root", n=2),
            sum_task("t-leaf", "t-mid", deps=["t-root"], n=3),
        ],
    )
    forked = fork(db, "t-mid", rerun=["t-leaf"])
    tasks = by_source(forked)
    assert set(tasks) == {"t-mid", "t-leaf"}
    assert tasks["t-leaf"].dependencies == []
    assert forked.task.parent_id is None


async def test_fork_at_a_time(db) -> None:
    await create_and_run(db, pipeline("at-"))
    created = positions(db, "at-root")[1]["timestamp"]
    forked = fork(db, "at-root", at=created)
    assert {t.status for t in forked.tasks()} == {TaskStatus.PENDING}
    assert len(forked.tasks()) == 1  # only the root existed by then
    later = fork(db, "at-root", at=datetime.now(UTC) + timedelta(days=1))
    assert {t.status for t in later.tasks()} == {TaskStatus.COMPLETED}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"root_id": "missing"}, TaskNotFoundError),
        ({"position": 1, "at": datetime.now(UTC)}, TaskValidationError),
        ({"position": -1}, TaskValidationError),
        ({"position": True}, TaskValidationError),
        ({"at": "yesterday"}, TaskValidationError),
        ({"overrides": {"nope": {"inputs": {}}}}, TaskNotFoundError),
        ({"overrides": {"e-a": {"name": "x"}}}, TaskValidationError),
        ({"overrides": {"e-a": {"inputs": ["x"]}}}, TaskValidationError),
        ({"overrides": {"e-a": {"inputs": {"x": object()}}}}, TaskValidationError),
        ({"overrides": {"e-a": {}}}, TaskValidationError),
        ({"overrides": ["e-a"]}, TaskValidationError),
        ({"rerun": "e-a"}, TaskValidationError),
        ({"rerun": ["e-zz"]}, TaskNotFoundError),
    ],
)
async def test_bad_input_is_refused_and_nothing_written(db, options, error) -> None:
    await create_and_run(db, pipeline("e-"))
    before = log_position(db)
    with pytest.raises(error):
        fork(db, **{"root_id": "e-root", **options})
    assert log_position(db) == before


async def test_an_ambiguous_name_is_refused(db) -> None:
    tasks = pipeline("amb-")
    tasks[3]["name"] = tasks[1]["name"] = "same"
    await create_and_run(db, tasks)
    with pytest.raises(TaskValidationError, match="names 2 tasks"):
        fork(db, "amb-root", rerun=["same"])


async def test_before_the_tree_existed(db) -> None:
    await create_and_run(db, pipeline("old-"))
    start = positions(db, "old-root")[0]["position"]
    with pytest.raises(TaskNotFoundError):
        fork(db, "old-root", position=start - 1)


def _outcome(task: Any, rename: dict[str, str]) -> tuple[Any, ...]:
    error = task.error
    for new, old in rename.items():
        error = error and error.replace(new, old)
    return (task.status, task.result, error, task.error_type)


async def check_forks_reproduce(db: Any, root: str, every: int = 1) -> int:
    """Fork the run of ``root`` at every ``every``-th position after its creation, run
    each fork, and check it ends as the source ended without running again a task the
    source had completed by then; returns how many forks were checked."""
    final = {t.id: t for t in tree_at(db, root).tasks()}
    entries = positions(db, root)
    # Positions inside the creating commit hold part of the tree, which no reader saw.
    planted = max(e["position"] for e in entries if e["type"] == "created")
    points = [e["position"] for e in entries if e["position"] >= planted][::every]
    for point in points:
        done = {t.id for t in tree_at(db, root, point).tasks() if t.status == "completed"}
        forked = fork(db, root, position=point)
        await run(db, forked.task.id)
        rename = {n.task.id: n.task.original_task_id for n in forked.walk()}
        now = {t.original_task_id: t for t in tree_at(db, forked.task.id).tasks()}
        for source_id, task in now.items():
            assert _outcome(task, rename) == _outcome(final[source_id], {}), (point, source_id)
        assert not {rename[t] for t in started_ids(db, forked.task.id)} & done, point
    return len(points)


async def test_forking_at_every_position_reproduces_the_run(db) -> None:
    """With deterministic executors and no overrides, a fork run from any point ends as
    the source ended, and never runs a task the source had completed by then."""
    prefix = f"p{uuid.uuid4().hex[:6]}-"
    tasks = [
        sum_task(f"{prefix}root", deps=[f"{prefix}b", f"{prefix}x"], n=100),
        sum_task(f"{prefix}a", f"{prefix}root", n=1),
        sum_task(f"{prefix}b", f"{prefix}root", deps=[f"{prefix}a"], n=10),
        sum_task(f"{prefix}x", f"{prefix}a", fail="boom"),
        sum_task(
            f"{prefix}y", f"{prefix}root", deps=[{"id": f"{prefix}x", "required": False}], n=7
        ),
    ]
    await create_and_run(db, tasks)
    assert await check_forks_reproduce(db, f"{prefix}root") > 5


@st.composite
def random_trees(draw: st.DrawFn) -> list[dict[str, Any]]:
    """2 to 6 summing tasks under one root: random parents, dependencies that cannot form
    a cycle (each on a task earlier in a random order, never on an ancestor), a few
    that fail, and some dependencies that are not required."""
    size = draw(st.integers(2, 6))
    parents = [None, *(draw(st.integers(0, i - 1)) for i in range(1, size))]
    order = draw(st.permutations(range(size)))
    rank = {task: place for place, task in enumerate(order)}

    def ancestors(i: int) -> set[int]:
        found, parent = set(), parents[i]
        while parent is not None:
            found.add(parent)
            parent = parents[parent]
        return found

    tasks = []
    for i in range(size):
        allowed = [j for j in range(size) if rank[j] < rank[i] and j not in ancestors(i)]
        deps = draw(st.lists(st.sampled_from(allowed), unique=True, max_size=2)) if allowed else []
        optional = [draw(st.booleans()) for _ in deps]
        fails = draw(mostly(st.just(False), st.just(True)))
        inputs: dict[str, Any] = {"n": 10**i}
        if fails:
            inputs["fail"] = f"t{i} fails"
        tasks.append(
            sum_task(
                f"t{i}",
                None if parents[i] is None else f"t{parents[i]}",
                [
                    {"id": f"t{j}", "required": not opt}
                    for j, opt in zip(deps, optional, strict=True)
                ],
                **inputs,
            )
        )
    return tasks


@settings(max_examples=12)
@given(random_trees())
def test_forks_of_random_trees_reproduce_their_run(tasks: list[dict[str, Any]]) -> None:
    """The same property over random trees (SQLite; a fresh database each example),
    forking at every other position to keep the examples quick."""
    with fresh_run() as example:
        example.run(create_and_run(example.db, tasks))
        assert example.run(check_forks_reproduce(example.db, "t0", every=2)) >= 1
