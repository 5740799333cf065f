"""Comparing two runs: matching by lineage and by path, changes, first divergence."""

from __future__ import annotations

import pytest
from support.replay import create_and_run, pipeline, run, sum_task

from aipartnerupflow import TaskCreator, TaskNotFoundError
from aipartnerupflow.projections.replay import diff
from aipartnerupflow.runtime.fork import fork


def entry_for(result: dict, name: str) -> dict:
    return next(t for t in result["tasks"] if t["name"] == name)


async def test_a_run_equals_itself(db) -> None:
    await create_and_run(db, pipeline("same-"))
    result = diff(db, "same-root", "same-root")
    assert result["summary"]["identical"]
    assert result["summary"]["counts"] == {"same": 4, "changed": 0, "only_a": 0, "only_b": 0}
    assert result["summary"]["first_divergence"] is None


async def test_an_unchanged_fork_run_matches_by_lineage(db) -> None:
    await create_and_run(db, pipeline("u-"))
    forked = fork(db, "u-root", rerun=["u-a"])
    await run(db, forked.task.id)
    result = diff(db, "u-root", forked.task.id)
    assert {t["matched_by"] for t in result["tasks"]} == {"lineage"}
    # Dependency results merged under the dependency's own id compare equal.
    assert result["summary"]["identical"], result["summary"]
    rerun = entry_for(result, "u-a")
    assert rerun["duration"]["new"] is not None


async def test_results_keyed_by_task_ids_compare_across_a_fork(db) -> None:
    gather = {"id": "k-root", "name": "gather", "dependencies": ["k-a", "k-b"]}
    await create_and_run(
        db, [gather, sum_task("k-a", "k-root", n=1), sum_task("k-b", "k-root", n=2)]
    )
    forked = fork(db, "k-root", rerun=["k-root", "k-a"])
    await run(db, forked.task.id)
    result = diff(db, "k-root", forked.task.id)
    root = entry_for(result, "gather")
    assert "result" not in root["changes"], root["changes"]


async def test_an_override_shows_old_and_new_values_and_the_first_divergence(db) -> None:
    await create_and_run(db, pipeline("o-"))
    forked = fork(db, "o-root", overrides={"o-a": {"inputs": {"n": 5}}})
    await run(db, forked.task.id)
    result = diff(db, "o-root", forked.task.id)
    assert result["summary"]["counts"] == {"same": 1, "changed": 3, "only_a": 0, "only_b": 0}
    a = entry_for(result, "o-a")
    assert a["changes"]["inputs"] == {"old": {"n": 1}, "new": {"n": 5}}
    assert a["changes"]["result"] == {"old": {"value": 1}, "new": {"value": 5}}
    root = entry_for(result, "o-root")
    assert root["changes"]["result"] == {"old": {"value": 111}, "new": {"value": 115}}
    assert entry_for(result, "o-c")["state"] == "same"
    assert result["summary"]["first_divergence"]["name"] == "o-a"


async def test_a_failure_is_a_change_of_status_and_error(db) -> None:
    await create_and_run(db, pipeline("f-"))
    forked = fork(db, "f-root", overrides={"f-c": {"inputs": {"fail": "now"}}})
    await run(db, forked.task.id)
    changed = entry_for(diff(db, "f-root", forked.task.id), "f-c")["changes"]
    assert changed["status"] == {"old": "completed", "new": "failed"}
    assert changed["error"]["new"] == "asked to fail: now"


async def test_unrelated_trees_match_by_path_and_report_tasks_in_one_only(db) -> None:
    one = [sum_task("p1", n=1), sum_task("p1-kid", "p1", n=2)]
    two = [sum_task("p2", n=1), sum_task("p2-kid", "p2", n=3), sum_task("p2-new", "p2")]
    for tasks in (one, two):
        tasks[0]["name"] = "top"
        tasks[1]["name"] = "kid"
    await create_and_run(db, one)
    await create_and_run(db, two)
    result = diff(db, "p1", "p2")
    assert entry_for(result, "kid")["matched_by"] == "path"
    assert entry_for(result, "kid")["changes"]["inputs"] == {"old": {"n": 2}, "new": {"n": 3}}
    assert result["summary"]["only_b"] == ["p2-new"]
    assert result["summary"]["only_a"] == []


async def test_a_fork_of_a_fork_matches_the_first_source(db) -> None:
    await create_and_run(db, pipeline("g-"))
    first = fork(db, "g-root", rerun=["g-c"])
    second = fork(db, first.task.id, rerun=["g-c"])
    await run(db, second.task.id)
    result = diff(db, "g-root", second.task.id)
    assert {t["matched_by"] for t in result["tasks"]} == {"lineage"}
    assert result["summary"]["identical"]


async def test_two_forks_of_one_source_match_each_other(db) -> None:
    await create_and_run(db, pipeline("h-"))
    left = fork(db, "h-root", overrides={"h-c": {"inputs": {"n": 1}}})
    right = fork(db, "h-root", overrides={"h-c": {"inputs": {"n": 2}}})
    result = diff(db, left.task.id, right.task.id)
    assert {t["matched_by"] for t in result["tasks"]} == {"lineage"}
    assert entry_for(result, "h-c")["changes"]["inputs"] == {"old": {"n": 1}, "new": {"n": 2}}


async def test_copies_match_their_originals(db) -> None:
    await create_and_run(db, pipeline("cp-"))
    copy = await TaskCreator(db).create_task_copy("cp-root", children=True)
    result = diff(db, "cp-root", copy.task.id)
    assert {t["matched_by"] for t in result["tasks"]} == {"lineage"}


async def test_unknown_roots_are_refused(db) -> None:
    await create_and_run(db, pipeline("x-"))
    with pytest.raises(TaskNotFoundError):
        diff(db, "x-root", "nope")
