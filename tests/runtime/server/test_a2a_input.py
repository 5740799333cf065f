"""A2A: a run whose task waits for input ends input-required with the prompt; a DataPart
{"input": ...} on the same A2A task gives the input and the run goes on (real SDK client)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import AgentCard, DataPart, Message, Role, TaskQueryParams, TaskState
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from support.server import serving

from aipartnerupflow import BaseTask, InputRequired, get_registry
from aipartnerupflow.runtime.server import create_app

SCHEMA = {"type": "object", "properties": {"approved": {"type": "boolean"}}}


class Approval(BaseTask):
    id = "approval"
    name = "approval"
    description = "asks whether to go on, then returns the answer"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if "input" not in inputs:
            raise InputRequired("Go on?", SCHEMA)
        return {"approved": inputs["input"]["approved"]}


@pytest.fixture
def base_url(db):
    get_registry().register_executor(Approval)
    with serving(lambda url: create_app(db, base_url=url, recover=False)) as url:
        yield url
    get_registry().unregister_executor("approval")


def data_message(data: dict[str, Any], task_id: str | None = None) -> Message:
    return Message(
        message_id=str(uuid.uuid4()),
        role=Role.user,
        parts=[DataPart(kind="data", data=data)],
        task_id=task_id,
    )


def last_data(task: Any) -> dict[str, Any]:
    parts = task.status.message.parts
    return [part.root.data for part in parts if part.root.kind == "data"][-1]


async def test_input_on_the_same_a2a_task_resumes_the_run(base_url: str) -> None:
    httpx_client = httpx.AsyncClient(base_url=base_url, timeout=30)
    card = AgentCard(**(await httpx_client.get(AGENT_CARD_WELL_KNOWN_PATH)).json())
    config = ClientConfig(streaming=False, polling=False, httpx_client=httpx_client)
    client = ClientFactory(config=config).create(card=card)
    try:
        tree = [
            {"id": "r", "name": "aggregate_results_executor", "dependencies": ["ask"]},
            {"id": "ask", "name": "approval", "parent_id": "r"},
        ]
        waiting, _ = [r async for r in client.send_message(data_message({"tasks": tree}))][-1]
        assert waiting.status.state == TaskState.input_required
        asked = last_data(waiting)
        assert asked["status"] == "waiting"
        assert asked["waiting"] == [{"task_id": "ask", "prompt": "Go on?", "schema": SCHEMA}]

        bad = data_message({"input": {"approved": "y"}}, waiting.id)
        refused, _ = [r async for r in client.send_message(bad)][-1]
        assert (refused.id, refused.status.state) == (waiting.id, TaskState.input_required)
        assert last_data(refused)["error_type"] == "TaskValidationError"

        good = data_message({"input": {"approved": True}}, waiting.id)
        done, _ = [r async for r in client.send_message(good)][-1]
        assert (done.id, done.status.state) == (waiting.id, TaskState.completed)
        assert last_data(done)["root_task_id"] == "r"
        stored = await client.get_task(TaskQueryParams(id=waiting.id))
        assert stored.status.state == TaskState.completed
    finally:
        await httpx_client.aclose()
