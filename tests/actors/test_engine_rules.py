"""The engine's rules with real executors: dependencies, priority, failures, retries,
timeouts, hooks, streaming, cancel."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from aipartnerupflow import (
    BaseTask,
    TaskCreator,
    TaskManager,
    TaskStateError,
    TaskStatus,
    errors,
    get_registry,
    history,
)

CALLS: list[str] = []


class Echo(BaseTask):
    id = "echo"
    name = "echo"
    description = "returns its inputs, sleeping `sleep` seconds first"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        CALLS.append(inputs.get("tag", "?"))
        await asyncio.sleep(inputs.get("sleep", 0))
        if inputs.get("fail"):
            raise RuntimeError(f"asked to fail: {inputs['fail']}")
        return {"inputs": inputs}


class Flaky(BaseTask):
    id = "flaky"
    name = "flaky"
    description = "fails until its third attempt"
    attempts: Counter[str] = Counter()

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        Flaky.attempts[inputs["key"]] += 1
        if Flaky.attempts[inputs["key"]] < 3:
            raise ConnectionError("try again")
        return {"attempts": Flaky.attempts[inputs["key"]]}


class Unstorable(BaseTask):
    id = "unstorable"
    name = "unstorable"
    description = "returns something that is not JSON"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"when": object()}


class Cancellable(BaseTask):
    id = "cancellable"
    name = "cancellable"
    description = "waits to be cancelled and reports what it had"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {}

    async def cancel(self) -> dict[str, Any]:
        return {"partial_result": {"words": 12}, "token_usage": {"total": 34}}


class Typed(BaseTask):
    id = "typed"
    name = "typed"
    description = "needs a string"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"ok": inputs["text"]}

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@pytest.fixture(autouse=True)
def executors():
    registry = get_registry()
    for executor in (Echo, Flaky, Cancellable, Typed, Unstorable):
        registry.register_executor(executor)
    CALLS.clear()
    Flaky.attempts.clear()
    yield
    for executor in (Echo, Flaky, Cancellable, Typed, Unstorable):
        registry.unregister_executor(executor.id)
    registry.clear_hooks()


def task(
    task_id: str,
    parent: str | None = None,
    deps: list[Any] | None = None,
    executor: str = "echo",
    **inputs: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": task_id, "name": executor, "inputs": {"tag": task_id, **inputs}}
    if parent:
        spec["parent_id"] = parent
    if deps:
        spec["dependencies"] = deps
    return spec


async def run(db, tasks: list[dict[str, Any]], **manager_options: Any) -> dict[str, Any]:
    root = await TaskCreator(db).create_task_tree_from_array(tasks)
    return await TaskManager(db, **manager_options).run_tree(root.task.id)


async def status_of(db, task_id: str) -> Any:
    return await TaskManager(db).task_repository.get_task_by_id(task_id)


async def test_parent_runs_last_when_it_depends_on_children(db) -> None:
    summary = await run(
        db, [task("p", deps=["a", "b"]), task("a", "p"), task("b", "p", deps=["a"])]
    )
    assert CALLS == ["a", "b", "p"]
    assert summary["status"] == TaskStatus.COMPLETED
    parent = await status_of(db, "p")
    assert set(parent.inputs) == {"tag", "a", "b"}  # results merged under dependency ids


async def test_results_merge_by_input_schema_properties(db) -> None:
    tasks = [task("r"), task("c", "r", deps=["r"])]
    tasks[1]["schemas"] = {"input_schema": {"properties": {"inputs": {}}}}
    await run(db, tasks)
    child = await status_of(db, "c")
    assert child.inputs["inputs"] == {"tag": "r"}  # only matching keys were copied
    assert "r" not in child.inputs


async def test_priority_orders_ready_tasks(db) -> None:
    tasks = [task("r"), *(task(f"c{p}", "r") for p in (3, 0, 2, 1))]
    for spec, priority in zip(tasks[1:], (3, 0, 2, 1), strict=True):
        spec["priority"] = priority
    await run(db, tasks, max_concurrency=1)
    # parent_id does not order execution: the urgent child runs before its root (priority 1,
    # created before c1 so it wins the tie).
    assert CALLS == ["c0", "r", "c1", "c2", "c3"]


async def test_failed_required_dependency_fails_dependents(db) -> None:
    summary = await run(
        db,
        [
            task("r"),
            task("bad", "r", fail="boom"),
            task("needs", "r", deps=["bad"]),
            task("optional", "r", deps=[{"id": "bad", "required": False}]),
        ],
    )
    bad, needs, optional = [await status_of(db, t) for t in ("bad", "needs", "optional")]
    assert (bad.status, bad.error_type) == ("failed", "RuntimeError")
    assert "asked to fail: boom" in bad.error
    assert needs.status == "failed" and "'bad'" in needs.error
    assert optional.status == "completed"
    assert summary["status"] == TaskStatus.FAILED


async def test_unknown_executor_and_bad_inputs_fail_only_their_task(db) -> None:
    tasks = [
        task("r"),
        task("ghost", "r", executor="no_such"),
        task("typed", "r", executor="typed"),
    ]
    tasks[2]["inputs"] = {"text": 5}
    tasks.append(task("fine", "r"))
    await run(db, tasks)
    ghost, typed, fine = [await status_of(db, t) for t in ("ghost", "typed", "fine")]
    assert (ghost.status, ghost.error_type) == ("failed", "ExecutorNotFoundError")
    assert (typed.status, typed.error_type) == ("failed", "InputValidationError")
    assert "'text'" in typed.error
    assert fine.status == "completed"


async def test_retries_with_backoff_then_success(db) -> None:
    spec = task("r", executor="flaky", key="k")
    spec["params"] = {"max_retries": 2, "retry_delay": 0.01}
    await run(db, [spec])
    done = await status_of(db, "r")
    assert (done.status, done.result, done.attempt) == ("completed", {"attempts": 3}, 3)
    assert [e["type"] for e in history(db, task_id="r")].count("started") == 3


async def test_timeout_fails_with_timeout_error(db) -> None:
    spec = task("r", sleep=5)
    spec["params"] = {"timeout": 0.05}
    await run(db, [spec])
    timed_out = await status_of(db, "r")
    assert (timed_out.status, timed_out.error_type) == ("failed", "TimeoutError")


async def test_hooks_change_inputs_and_see_results_and_never_crash(db) -> None:
    seen: list[tuple[str, Any]] = []

    def pre(task_model):
        task_model.inputs["added"] = "by hook"

    async def post(task_model, inputs, result):
        seen.append((task_model.id, result))

    def broken(task_model):
        raise RuntimeError("hook bug")

    get_registry().register_pre_hook(broken)
    await run(db, [task("r")], pre_hooks=[pre], post_hooks=[post])
    done = await status_of(db, "r")
    assert done.status == "completed" and done.inputs["added"] == "by hook"
    assert seen == [("r", {"inputs": {"tag": "r", "added": "by hook"}})]
    types = [e["type"] for e in history(db, task_id="r")]
    assert "hook_failed" in types and types.count("updated") == 1


async def test_executor_pre_hook_replaces_execute(db) -> None:
    get_registry().register_executor(Echo, pre_hook=lambda task, inputs: {"cached": True})
    await run(db, [task("r")])
    assert (await status_of(db, "r")).result == {"cached": True}
    assert CALLS == []


async def test_streaming_ends_with_final_even_when_the_tree_fails(db) -> None:
    root = await TaskCreator(db).create_task_tree_from_array(
        [task("r"), task("bad", "r", fail="x")]
    )
    manager = TaskManager(db)
    events: list[dict[str, Any]] = []
    manager.streaming_callbacks.add_callback(events.append)
    await manager.distribute_task_tree_with_streaming(root)
    assert events[-1]["type"] == "final" and events[-1]["status"] == "failed"
    kinds = [(e["type"], e["task_id"]) for e in events[:-1]]
    assert ("task_start", "r") in kinds and ("task_failed", "bad") in kinds
    assert kinds.index(("task_start", "bad")) < kinds.index(("task_failed", "bad"))
    assert all(e["root_task_id"] == "r" for e in events)


async def test_a_running_tree_cannot_start_twice(db) -> None:
    root = await TaskCreator(db).create_task_tree_from_array([task("r", sleep=0.3)])
    manager = TaskManager(db)
    first = asyncio.create_task(manager.run_tree(root.task.id))
    await asyncio.sleep(0.05)
    with pytest.raises(TaskStateError, match="already running"):
        await manager.run_tree(root.task.id)
    assert (await first)["status"] == "completed"


async def test_cancel_running_tree_reaches_every_task(db) -> None:
    root = await TaskCreator(db).create_task_tree_from_array(
        [
            task("r", executor="cancellable"),
            task("c1", "r", executor="cancellable"),
            task("later", "r", deps=["r"]),
        ]
    )
    manager = TaskManager(db)
    running = asyncio.create_task(manager.run_tree(root.task.id))
    repo = manager.task_repository
    while (await repo.get_task_by_id("c1")).status != "in_progress":
        await asyncio.sleep(0.01)
    answer = await manager.cancel_task("r", "user stop")
    assert answer["status"] == "cancelled" and answer["message"] == "user stop"
    assert answer["partial_result"] == {"words": 12}
    assert answer["token_usage"] == {"total": 34}
    summary = await asyncio.wait_for(running, 5)
    assert summary["status"] == "cancelled"
    for task_id in ("r", "c1", "later"):
        assert (await repo.get_task_by_id(task_id)).status == "cancelled"
    cancelled = [e for e in history(db, task_id="c1") if e["type"] == "cancelled"]
    assert cancelled[0]["cause"]["reason"] == "user stop"


async def test_cancel_answers_for_unknown_finished_and_idle_tasks(db) -> None:
    manager = TaskManager(db)
    unknown = await manager.cancel_task("nope")
    assert unknown["status"] == "failed" and "error" in unknown
    await run(db, [task("done")])
    finished = await manager.cancel_task("done")
    assert (finished["status"], finished["current_status"]) == ("failed", "completed")
    await TaskCreator(db).create_task_tree_from_array([task("idle"), task("kid", "idle")])
    idle = await manager.cancel_task("idle")
    assert idle["status"] == "cancelled" and idle["cancelled_task_ids"] == ["idle", "kid"]


async def test_a_result_the_log_cannot_store_fails_only_its_task(db) -> None:
    summary = await run(db, [task("r"), task("odd", "r", executor="unstorable"), task("fine", "r")])
    odd, fine = await status_of(db, "odd"), await status_of(db, "fine")
    assert (odd.status, odd.error_type) == ("failed", "ResultError")
    assert "JSON" in odd.error and fine.status == "completed"
    assert summary["status"] == "failed"


class SaysFailed(BaseTask):
    id = "says_failed"
    name = "says_failed"
    description = "returns a failed result without naming its error"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"status": "failed", "error": "no luck"}


async def test_the_engine_names_each_failure_by_an_error_class(db) -> None:
    get_registry().register_executor(SaysFailed)
    try:
        tasks = [
            task("r"),
            task("ghost", "r", executor="no_such"),
            task("typed", "r", executor="typed"),
            task("odd", "r", executor="unstorable"),
            task("said", "r", executor="says_failed"),
            task("needs", "r", deps=["ghost"]),
        ]
        await run(db, tasks)
    finally:
        get_registry().unregister_executor(SaysFailed.id)
    named = {t["id"]: (await status_of(db, t["id"])).error_type for t in tasks[1:]}
    assert named == {
        "ghost": "ExecutorNotFoundError",
        "typed": "InputValidationError",
        "odd": "ResultError",
        "said": "ExecutorError",
        "needs": "DependencyFailedError",
    }
    for name in named.values():
        assert issubclass(getattr(errors, name), errors.TaskRunError)
