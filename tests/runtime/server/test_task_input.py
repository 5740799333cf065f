"""tasks.input over real HTTP on loopback: a waiting task gets its input and its tree
completes; bad input and input for a task that does not wait are refused."""

from __future__ import annotations

from typing import Any

import pytest
from support.server import rpc, serving

from aipartnerupflow import BaseTask, get_registry, log_position_async
from aipartnerupflow.runtime.server import create_app


class Approval(BaseTask):
    id = "approval"
    name = "approval"
    description = "asks whether to go on, then returns the answer"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if "input" not in inputs:
            schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
            return {"status": "input_required", "prompt": "Go on?", "schema": schema}
        return {"approved": inputs["input"]["approved"]}


@pytest.fixture(autouse=True)
def approval():
    get_registry().register_executor(Approval)
    yield
    get_registry().unregister_executor("approval")


@pytest.fixture
def base_url(db):
    with serving(lambda url: create_app(db, base_url=url, recover=False)) as url:
        yield url


TREE = [
    {"id": "r", "name": "aggregate_results_executor", "dependencies": ["ask"]},
    {"id": "ask", "name": "approval", "parent_id": "r"},
]


async def test_tasks_input_resumes_a_waiting_task(db, base_url: str) -> None:
    ran = await rpc(base_url, "tasks.execute", {"tasks": TREE})
    assert ran["result"]["status"] == "waiting"
    task = (await rpc(base_url, "tasks.get", {"task_id": "ask"}))["result"]
    assert task["status"] == "waiting" and task["result"]["prompt"] == "Go on?"

    before = await log_position_async(db)
    refused = await rpc(base_url, "tasks.input", {"task_id": "ask", "input": {"approved": "y"}})
    assert refused["error"]["code"] == -32602
    assert refused["error"]["data"]["error_type"] == "TaskValidationError"
    missing = await rpc(base_url, "tasks.input", {"task_id": "ask"})
    assert missing["error"]["message"] == "missing parameter 'input'"
    unknown = await rpc(base_url, "tasks.input", {"task_id": "nobody", "input": 1})
    assert unknown["error"]["code"] == -32001
    assert await log_position_async(db) == before

    done = await rpc(base_url, "tasks.input", {"task_id": "ask", "input": {"approved": True}})
    assert done["result"]["status"] == "completed"
    assert done["result"]["root_task_id"] == "r"
    task = (await rpc(base_url, "tasks.get", {"task_id": "ask"}))["result"]
    assert task["result"] == {"approved": True}

    again = await rpc(base_url, "tasks.input", {"task_id": "ask", "input": {"approved": True}})
    assert again["error"]["data"]["error_type"] == "TaskStateError"
