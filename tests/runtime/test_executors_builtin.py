"""The built-in executors: real machine figures, and aggregation of dependency results."""

from __future__ import annotations

import os
import threading
from typing import Any

import psutil
import pytest
from support.samples import A2A_TREE

from aipartnerupflow import TaskCreator, TaskManager, TaskStatus, get_registry
from aipartnerupflow.actors.input_schema import validate_inputs
from aipartnerupflow.runtime.executors.builtin import (
    AggregateResultsExecutor,
    SystemInfoExecutor,
)


def test_builtins_are_registered_on_import() -> None:
    registry = get_registry()
    assert registry.get_executor_class("system_info_executor") is SystemInfoExecutor
    assert registry.get_executor_class("aggregate_results_executor") is AggregateResultsExecutor


async def test_cpu_figures_are_real() -> None:
    figures = await SystemInfoExecutor().execute({"resource": "cpu"})
    assert figures["resource"] == "cpu"
    assert figures["cores"] == os.cpu_count()
    assert figures["physical_cores"] == psutil.cpu_count(logical=False)
    assert 0.0 <= figures["percent"] <= 100.0
    assert len(figures["load_average"]) == 3
    assert all(value >= 0 for value in figures["load_average"])


async def test_cpu_is_the_default_resource() -> None:
    figures = await SystemInfoExecutor().execute({})
    assert figures["resource"] == "cpu" and figures["cores"] == os.cpu_count()


async def test_memory_figures_are_real() -> None:
    figures = await SystemInfoExecutor().execute({"resource": "memory"})
    assert figures["resource"] == "memory"
    assert figures["total"] == psutil.virtual_memory().total
    assert 0 < figures["available"] <= figures["total"]
    assert 0 < figures["used"] <= figures["total"]
    assert 0.0 <= figures["percent"] <= 100.0


async def test_disk_figures_are_real() -> None:
    figures = await SystemInfoExecutor().execute({"resource": "disk"})
    assert figures["resource"] == "disk"
    assert figures["total"] == psutil.disk_usage("/").total > 0
    assert figures["used"] + figures["free"] <= figures["total"]
    assert 0.0 <= figures["percent"] <= 100.0


async def test_psutil_runs_off_the_event_loop_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = psutil.cpu_percent

    def spy(*args: Any, **kwargs: Any) -> float:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(psutil, "cpu_percent", spy)
    await SystemInfoExecutor().execute({"resource": "cpu"})
    assert threads and threads[0] is not threading.current_thread()


@pytest.mark.parametrize("resource", ["gpu", "CPU", 3, None])
async def test_an_unknown_resource_is_a_clear_error(resource: Any) -> None:
    with pytest.raises(ValueError, match=r"resource must be one of cpu, memory, disk, got"):
        await SystemInfoExecutor().execute({"resource": resource})


def test_system_info_schema_declares_the_resources() -> None:
    schema = SystemInfoExecutor().get_input_schema()
    assert schema["properties"]["resource"]["enum"] == ["cpu", "memory", "disk"]
    assert validate_inputs({"resource": "disk"}, schema) == []
    assert validate_inputs({"resource": 3}, schema) != []


async def test_aggregate_collects_every_input_except_reserved_keys() -> None:
    executor = AggregateResultsExecutor()
    inputs = {"child-1": {"cores": 2}, "child-2": None, "_note": "not a result"}
    assert await executor.execute(inputs) == {
        "results": {"child-1": {"cores": 2}, "child-2": None},
        "count": 2,
    }
    assert await executor.execute({}) == {"results": {}, "count": 0}


async def test_the_reference_a2a_tree_aggregates_real_figures(db) -> None:
    root = await TaskCreator(db).create_task_tree_from_array(A2A_TREE)
    manager = TaskManager(db)
    await manager.distribute_task_tree(root)
    parent = await manager.task_repository.get_task_by_id("parent-task")
    assert parent.status == TaskStatus.COMPLETED
    assert parent.result["count"] == 2
    results = parent.result["results"]
    assert results["child-1"]["cores"] == os.cpu_count()
    assert results["child-2"]["total"] == psutil.virtual_memory().total
