"""The reference's Quick Start and Common Patterns, run as written (real executors, SQLite)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aipartnerupflow import (
    BaseTask,
    TaskManager,
    TaskStatus,
    TaskTreeNode,
    executor_register,
    get_registry,
)

ORDER: list[str] = []


@pytest.fixture(autouse=True)
def pattern_executors():
    """Executors named like the tasks of Patterns 2 and 3, recording their start order."""
    registry = get_registry()

    def make(executor_id: str, delay: float = 0.0) -> type[BaseTask]:
        class Recorder(BaseTask):
            id = executor_id
            name = executor_id
            description = "records the order it ran in"

            async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
                ORDER.append(executor_id)
                await asyncio.sleep(delay)
                return {"ran": executor_id, "seen": sorted(inputs)}

        return Recorder

    names = ["fetch_data", "process_data", "save_results", "root", "task1", "task2", "task3"]
    for name in names:
        registry.register_executor(make(name, 0.05 if name.startswith("task") else 0.0))
    ORDER.clear()
    yield
    for name in names:
        registry.unregister_executor(name)


async def test_quick_start_system_info(db) -> None:
    task_manager = TaskManager(db)
    task = await task_manager.task_repository.create_task(
        name="system_info_executor", user_id="user123", inputs={"resource": "cpu"}
    )
    await task_manager.distribute_task_tree(TaskTreeNode(task))
    result = await task_manager.task_repository.get_task_by_id(task.id)
    assert result.status == TaskStatus.COMPLETED
    assert result.result["cores"] >= 1


async def test_pattern_2_sequential_dependencies(db) -> None:
    task_manager = TaskManager(db)
    repo = task_manager.task_repository
    task1 = await repo.create_task(name="fetch_data", user_id="user123", priority=1)
    task2 = await repo.create_task(
        name="process_data",
        user_id="user123",
        parent_id=task1.id,
        dependencies=[{"id": task1.id, "required": True}],
        priority=2,
        inputs={"data": []},
    )
    task3 = await repo.create_task(
        name="save_results",
        user_id="user123",
        parent_id=task1.id,
        dependencies=[{"id": task2.id, "required": True}],
        priority=3,
    )
    root = TaskTreeNode(task1)
    root.add_child(TaskTreeNode(task2))
    root.add_child(TaskTreeNode(task3))
    await task_manager.distribute_task_tree(root)
    assert ORDER == ["fetch_data", "process_data", "save_results"]
    saved = await repo.get_task_by_id(task3.id)
    assert saved.status == TaskStatus.COMPLETED
    # task2's result was merged into task3's inputs under task2's id.
    assert saved.result["seen"] == [task2.id]


async def test_pattern_3_parallel_siblings_overlap(db) -> None:
    task_manager = TaskManager(db)
    repo = task_manager.task_repository
    root_task = await repo.create_task(name="root", user_id="user123", priority=1)
    children = [
        await repo.create_task(name=name, user_id="user123", parent_id=root_task.id, priority=2)
        for name in ("task1", "task2", "task3")
    ]
    root = TaskTreeNode(root_task)
    for child in children:
        root.add_child(TaskTreeNode(child))
    await task_manager.distribute_task_tree(root)
    tasks = [await repo.get_task_by_id(c.id) for c in children]
    assert all(t.status == TaskStatus.COMPLETED for t in tasks)
    # Each sleeps 50 ms; run one after another they could not all overlap.
    latest_start = max(t.started_at for t in tasks)
    earliest_end = min(t.completed_at for t in tasks)
    assert latest_start < earliest_end


async def test_pattern_4_error_handling_reads_failures(db) -> None:
    task_manager = TaskManager(db)
    repo = task_manager.task_repository
    root_task = await repo.create_task(name="no_such_executor", user_id="user123")
    tree = TaskTreeNode(root_task)
    await task_manager.distribute_task_tree(tree)
    task = await repo.get_task_by_id(root_task.id)
    assert task.status == "failed"
    assert "no_such_executor" in task.error
    assert task.error_type == "ExecutorNotFoundError"


async def test_pattern_5_task_executor(db) -> None:
    from aipartnerupflow.core.execution.task_executor import TaskExecutor

    @executor_register()
    class MyExecutor(BaseTask):
        id = "my_executor"
        name = "My Executor"
        description = "echoes"

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {"status": "completed", "result": inputs}

    try:
        executor = TaskExecutor()
        assert executor is TaskExecutor()
        tasks = [
            {
                "id": "task1",
                "name": "my_executor",
                "user_id": "user123",
                "inputs": {"key": "value"},
            },
            {
                "id": "task2",
                "name": "my_executor",
                "user_id": "user123",
                "parent_id": "task1",
                "dependencies": [{"id": "task1", "required": True}],
                "inputs": {"key": "value2"},
            },
        ]
        result = await executor.execute_tasks(
            tasks=tasks, root_task_id="root_123", use_streaming=False, db=db
        )
        assert result["status"] == TaskStatus.COMPLETED
        assert result["root_task_id"] == "task1"
        assert result["progress"] == 1.0
    finally:
        get_registry().unregister_executor("my_executor")


async def test_pattern_6_robust_executor_returns_failure(db) -> None:
    @executor_register()
    class RobustExecutor(BaseTask):
        id = "robust_executor"
        name = "Robust Executor"
        description = "Executor with comprehensive error handling"

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            if not inputs.get("data"):
                return {
                    "status": "failed",
                    "error": "data is required",
                    "error_type": "validation_error",
                }
            return {"status": "completed", "result": {"processed": inputs["data"]}}

        def get_input_schema(self) -> dict[str, Any]:
            return {
                "type": "object",
                "properties": {"data": {"type": "string"}},
                "required": ["data"],
            }

    try:
        manager = TaskManager(db)
        repo = manager.task_repository
        good = await repo.create_task(name="robust_executor", inputs={"data": "x"})
        empty = await repo.create_task(name="robust_executor", inputs={"data": ""})
        missing = await repo.create_task(name="robust_executor", inputs={})
        for task in (good, empty, missing):
            await manager.distribute_task_tree(TaskTreeNode(task))
        good, empty, missing = [await repo.get_task_by_id(t.id) for t in (good, empty, missing)]
        assert good.status == TaskStatus.COMPLETED
        assert good.result == {"status": "completed", "result": {"processed": "x"}}
        assert (empty.status, empty.error, empty.error_type) == (
            "failed",
            "data is required",
            "validation_error",
        )
        # The engine checks the input schema before execute(); its error is named by class.
        assert missing.status == "failed" and missing.error_type == "InputValidationError"
        assert "data" in missing.error
    finally:
        get_registry().unregister_executor("robust_executor")
