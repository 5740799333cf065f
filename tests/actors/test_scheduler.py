"""The scheduler alone: plain data in, decisions out; no thread, no database."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aipartnerupflow.actors.scheduler import Scheduler
from aipartnerupflow.errors import DependencyFailedError, DependencyOutsideRunError
from aipartnerupflow.events.domain.status import TaskStatus

COMPLETED, FAILED, CANCELLED = TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED


def state(
    deps: list[Any] | None = None, priority: int = 1, status: str = TaskStatus.PENDING
) -> dict[str, Any]:
    """A task's state as the scheduler reads it; a bare id is a required dependency."""
    dependencies = [d if isinstance(d, dict) else {"id": d, "required": True} for d in deps or []]
    return {"status": status, "priority": priority, "dependencies": dependencies}


def scheduler(tasks: dict[str, dict[str, Any]], limit: int = 100, run: list[str] | None = None):
    return Scheduler(tasks, run if run is not None else list(tasks), limit)


def test_strict_priority_then_creation_order() -> None:
    tasks = {
        "a": state(priority=2),
        "b": state(priority=0),
        "c": state(priority=1),
        "d": state(priority=0),
        "e": state(priority=2),
    }
    plan = scheduler(tasks, limit=1)
    assert plan.begin() == []
    order = []
    while not plan.done:
        (started,) = plan.take_ready()
        order.append(started)
        assert plan.take_ready() == []  # the limit is one
        plan.finish(started, COMPLETED)
    assert order == ["b", "d", "c", "a", "e"]


def test_a_task_waits_for_every_dependency_required_or_not() -> None:
    tasks = {"a": state(), "b": state(), "c": state(["a", {"id": "b", "required": False}])}
    plan = scheduler(tasks)
    plan.begin()
    assert plan.take_ready() == ["a", "b"]
    plan.finish("b", FAILED)
    assert plan.take_ready() == []
    assert plan.finish("a", COMPLETED) == []
    assert plan.take_ready() == ["c"]  # an optional dependency that failed never blocks


def test_a_failed_required_dependency_fails_its_dependents_transitively() -> None:
    tasks = {"a": state(), "b": state(["a"]), "c": state(["b"]), "d": state()}
    plan = scheduler(tasks)
    plan.begin()
    assert plan.take_ready() == ["a", "d"]
    blocked = plan.finish("a", CANCELLED)
    assert [b.task_id for b in blocked] == ["b", "c"]
    assert all(isinstance(b.error, DependencyFailedError) for b in blocked)
    assert "'a' cancelled" in str(blocked[0].error) and "'b' failed" in str(blocked[1].error)
    assert plan.status["c"] == FAILED and not plan.done
    plan.finish("d", COMPLETED)
    assert plan.done


def test_dependencies_finished_before_the_run_count_as_they_ended() -> None:
    tasks = {
        "old": state(status=FAILED),
        "done": state(status=COMPLETED),
        "x": state(["old"]),
        "y": state(["done"]),
    }
    plan = scheduler(tasks, run=["x", "y"])
    blocked = plan.begin()
    assert [(b.task_id, type(b.error)) for b in blocked] == [("x", DependencyFailedError)]
    assert plan.take_ready() == ["y"]


def test_an_unfinished_dependency_outside_the_run_fails_the_task() -> None:
    tasks = {"outside": state(), "x": state(["outside"]), "y": state(["x"])}
    plan = scheduler(tasks, run=["x", "y"])
    blocked = plan.begin()
    assert [(b.task_id, type(b.error)) for b in blocked] == [
        ("x", DependencyOutsideRunError),
        ("y", DependencyFailedError),
    ]
    assert "'outside' is pending" in str(blocked[0].error)
    assert plan.done


def test_a_task_started_before_a_crash_runs_again_and_completed_ones_do_not() -> None:
    tasks = {"a": state(status=TaskStatus.IN_PROGRESS), "b": state(status=COMPLETED)}
    plan = scheduler(tasks)
    plan.begin()
    assert plan.take_ready() == ["a"]


def test_a_task_waiting_for_input_holds_its_dependents_and_the_run_ends_without_them() -> None:
    tasks = {
        "ask": state(),
        "after": state(["ask"]),
        "soft": state([{"id": "ask", "required": False}]),
        "other": state(),
    }
    plan = scheduler(tasks)
    plan.begin()
    assert plan.take_ready() == ["ask", "other"]
    assert plan.finish("ask", TaskStatus.WAITING) == []
    assert not plan.done
    plan.finish("other", COMPLETED)
    assert plan.take_ready() == []
    assert plan.done
    assert plan.status["after"] == plan.status["soft"] == TaskStatus.PENDING


def test_a_task_found_waiting_is_not_run_and_its_wait_can_be_cancelled() -> None:
    tasks = {"ask": state(status=TaskStatus.WAITING), "after": state(["ask"])}
    plan = scheduler(tasks)
    assert plan.begin() == []
    assert plan.take_ready() == [] and plan.done
    outcome = plan.cancel(["ask"])
    assert outcome.now == ["ask"]
    assert [(b.task_id, type(b.error)) for b in outcome.blocked] == [
        ("after", DependencyFailedError)
    ]


def test_cancel_takes_waiting_tasks_now_and_leaves_running_ones_to_be_stopped() -> None:
    tasks = {
        "run": state(),
        "wait": state(["run"]),
        "ready": state(priority=5),
        "soft": state([{"id": "wait", "required": False}]),
    }
    plan = scheduler(tasks, limit=1)
    plan.begin()
    assert plan.take_ready() == ["run"]
    outcome = plan.cancel(["run", "wait", "ready", "unknown"])
    assert (outcome.now, outcome.to_stop, outcome.blocked) == (["wait", "ready"], ["run"], [])
    assert plan.take_ready() == []  # the stopping task still holds its place
    plan.finish("run", CANCELLED)
    assert plan.take_ready() == ["soft"]


def test_cancel_does_not_fail_a_victim_for_another_victim() -> None:
    tasks = {"a": state(), "b": state(["a"]), "c": state(["b"])}
    plan = scheduler(tasks)
    plan.begin()
    outcome = plan.cancel(["c", "b"])
    assert (outcome.now, outcome.blocked) == (["c", "b"], [])
    assert plan.status["b"] == plan.status["c"] == CANCELLED


@st.composite
def dags(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """Tasks whose dependencies point only at earlier tasks (so never a cycle)."""
    size = draw(st.integers(1, 12))
    tasks: dict[str, dict[str, Any]] = {}
    for i in range(size):
        earlier = list(tasks)
        deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        required = draw(st.lists(st.booleans(), min_size=len(deps), max_size=len(deps)))
        tasks[f"t{i}"] = {
            "status": TaskStatus.PENDING,
            "priority": draw(st.integers(0, 3)),
            "dependencies": [{"id": d, "required": r} for d, r in zip(deps, required, strict=True)],
        }
    return tasks


@given(
    tasks=dags(),
    limit=st.integers(1, 4),
    choices=st.lists(st.tuples(st.integers(0, 100), st.sampled_from([COMPLETED, FAILED]))),
)
def test_any_run_respects_dependencies_limit_and_priority(
    tasks: dict[str, dict[str, Any]], limit: int, choices: list[tuple[int, str]]
) -> None:
    rank = {task_id: (state["priority"], i) for i, (task_id, state) in enumerate(tasks.items())}
    plan = scheduler(tasks, limit=limit)
    ended: dict[str, str] = {}
    blocked = {b.task_id for b in plan.begin()}
    ended.update(dict.fromkeys(blocked, FAILED))
    started_ever: set[str] = set()
    while not plan.done:
        # What the rules allow to start now, found without the scheduler.
        allowed = [
            task_id
            for task_id, state in tasks.items()
            if task_id not in started_ever | set(ended)
            and all(d["id"] in ended for d in state["dependencies"])
        ]
        room = limit - len(plan.running)
        started = plan.take_ready()
        assert started == sorted(allowed, key=rank.__getitem__)[:room]
        started_ever.update(started)
        for task_id in started:
            deps = tasks[task_id]["dependencies"]
            assert not any(d["required"] and ended[d["id"]] != COMPLETED for d in deps)
        assert 0 < len(plan.running) <= limit
        index, status = choices.pop() if choices else (0, COMPLETED)
        running = sorted(plan.running)
        finished = running[index % len(running)]
        ended[finished] = status
        newly = {b.task_id for b in plan.finish(finished, status)}
        ended.update(dict.fromkeys(newly, FAILED))
        blocked |= newly
    assert set(ended) == set(tasks)
    assert not blocked & started_ever
    for task_id in blocked:
        deps = tasks[task_id]["dependencies"]
        assert any(d["required"] and ended[d["id"]] != COMPLETED for d in deps)
