"""Resuming a tree in place: failed and cancelled tasks run again, completed ones are kept."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest

from aipartnerupflow import (
    BaseTask,
    ExtensionRegistry,
    TaskCreator,
    TaskManager,
    create_session,
    history,
)
from aipartnerupflow.errors import TaskStateError


class Flaky(BaseTask):
    """Fails while ``broken`` names its input; counts its executions."""

    id = "flaky"
    name = "flaky"
    description = "fails until mended"
    broken: ClassVar[set[str]] = set()
    runs: ClassVar[list[str]] = []

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.runs.append(inputs["key"])
        if inputs["key"] in self.broken:
            raise RuntimeError(f"{inputs['key']} is broken")
        return {"key": inputs["key"]}


@pytest.fixture
def manager(db) -> TaskManager:
    registry = ExtensionRegistry()
    registry.register_executor(Flaky)
    Flaky.runs.clear()
    return TaskManager(db, registry=registry)


async def test_a_failed_tree_resumes_where_it_failed(db, manager: TaskManager) -> None:
    key = uuid.uuid4().hex[:8]
    root, good, bad = (f"{n}-{key}" for n in ("root", "good", "bad"))
    specs = [
        {"id": root, "name": "flaky", "inputs": {"key": root}, "dependencies": [good, bad]},
        {"id": good, "name": "flaky", "parent_id": root, "inputs": {"key": good}},
        {"id": bad, "name": "flaky", "parent_id": root, "inputs": {"key": bad}},
    ]
    await TaskCreator(db).create_task_tree_from_array(specs)
    Flaky.broken = {bad}
    assert (await manager.run_tree(root))["status"] == "failed"
    assert sorted(Flaky.runs) == sorted([good, bad])
    Flaky.broken = set()
    Flaky.runs.clear()
    summary = await manager.resume(root)
    assert summary["status"] == "completed"
    assert sorted(Flaky.runs) == sorted([bad, root])  # good kept its result
    resets = [e for e in history(db, tree_id=_tree(db, root)) if e["type"] == "reset"]
    assert {e["task_id"] for e in resets} == {root, bad}
    assert all(e["cause"]["reason"] == "resumed" for e in resets)
    attempts = [
        e["changes"]["attempt"]["new"] for e in history(db, task_id=bad) if e["type"] == "started"
    ]
    assert attempts == [1, 2]


async def test_resume_refuses_a_tree_with_a_live_owner(db_url: str) -> None:
    here, elsewhere = create_session(db_url), create_session(db_url)
    try:
        key = uuid.uuid4().hex[:8]
        await TaskCreator(here).create_task_tree_from_array([{"id": key, "name": "missing"}])
        lease = await elsewhere.run(elsewhere.ownership.acquire, _tree(here, key), key)
        assert lease is not None
        before = history(here, task_id=key)
        with pytest.raises(TaskStateError, match="running in another process"):
            await TaskManager(here).resume(key)
        assert history(here, task_id=key) == before
    finally:
        here.close()
        elsewhere.close()


def _tree(db: Any, task_id: str) -> uuid.UUID:
    return uuid.UUID(history(db, task_id=task_id)[0]["tree_id"])
