"""One TaskManager for the app's lifetime: the hooks of the manager given to ``create_app``
apply to trees run through the task API and through A2A, over real HTTP on loopback."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from support.server import serving

from aipartnerupflow import Database, TaskManager, TaskRepository
from aipartnerupflow.runtime.server import create_app


def tree(prefix: str) -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}-root", "name": "root", "schemas": {"method": "system_info_executor"}},
        {
            "id": f"{prefix}-leaf",
            "name": "leaf",
            "parent_id": f"{prefix}-root",
            "schemas": {"method": "system_info_executor"},
            "inputs": {"resource": "cpu"},
        },
    ]


class Hooks:
    """Pre and post hooks that note each task they see."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def pre(self, task: Any) -> None:
        self.seen.append(("pre", task.id))

    async def post(self, task: Any, inputs: Any, result: Any) -> None:
        self.seen.append(("post", task.id))


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def base_url(db: Database, hooks: Hooks):
    manager = TaskManager(db, pre_hooks=[hooks.pre], post_hooks=[hooks.post])
    with serving(lambda url: create_app(db, base_url=url, recover=False, manager=manager)) as url:
        yield url


def expected(prefix: str) -> set[tuple[str, str]]:
    return {(kind, f"{prefix}-{name}") for kind in ("pre", "post") for name in ("root", "leaf")}


async def test_hooks_run_for_trees_executed_through_the_task_api(
    base_url: str, hooks: Hooks, db: Database
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks.execute", "params": {"tasks": tree("rpc")}}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        answer = (await client.post("/tasks", json=body)).json()
    assert answer["result"]["status"] == "completed", answer
    assert set(hooks.seen) == expected("rpc") and len(hooks.seen) == 4
    assert (await TaskRepository(db).get_task_by_id("rpc-leaf")).status == "completed"


async def test_hooks_run_for_trees_executed_through_a2a(
    base_url: str, hooks: Hooks, db: Database
) -> None:
    message = {
        "kind": "message",
        "messageId": str(uuid.uuid4()),
        "role": "user",
        "parts": [{"kind": "data", "data": {"tasks": tree("a2a")}}],
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {"message": message, "configuration": {"blocking": True}},
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        answer = (await client.post("/", json=body)).json()
    assert answer["result"]["status"]["state"] == "completed", answer
    assert set(hooks.seen) == expected("a2a") and len(hooks.seen) == 4
    assert (await TaskRepository(db).get_task_by_id("a2a-leaf")).status == "completed"
