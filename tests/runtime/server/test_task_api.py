"""The JSON-RPC task API over real HTTP on loopback: every method and error path, auth."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from support.server import CallbackSink, rpc, serving

from aipartnerupflow import BaseTask, TaskRepository, get_registry
from aipartnerupflow.runtime.server import create_app, issue_token

SECRET = "a-test-secret-of-at-least-32-bytes!"


class Wait(BaseTask):
    id = "wait_executor"
    name = "wait"
    description = "sleeps `seconds`"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(inputs.get("seconds", 30))
        return {"slept": True}


@pytest.fixture(autouse=True)
def wait_executor():
    get_registry().register_executor(Wait)
    yield
    get_registry().unregister_executor("wait_executor")


@pytest.fixture
def base_url(db):
    with serving(lambda url: create_app(db, base_url=url, recover=False, max_body=20_000)) as url:
        yield url


@pytest.fixture
def auth_url(db):
    with serving(
        lambda url: create_app(db, base_url=url, recover=False, auth_secret=SECRET)
    ) as url:
        yield url


async def result(url: str, method: str, params: Any = None, **kw: Any) -> Any:
    body = await rpc(url, method, params, **kw)
    assert "error" not in body, body
    return body["result"]


async def error(url: str, method: str, params: Any = None, **kw: Any) -> dict[str, Any]:
    body = await rpc(url, method, params, **kw)
    assert "result" not in body, body
    return body["error"]


TREE = [
    {
        "id": "r",
        "name": "aggregate_results_executor",
        "user_id": "alice",
        "dependencies": ["c1", "c2"],
    },
    {
        "id": "c1",
        "name": "system_info_executor",
        "parent_id": "r",
        "user_id": "alice",
        "inputs": {"resource": "cpu"},
    },
    {
        "id": "c2",
        "name": "system_info_executor",
        "parent_id": "r",
        "user_id": "alice",
        "inputs": {"resource": "disk"},
    },
]


async def test_create_read_and_tree_methods(base_url: str) -> None:
    tree = await result(base_url, "tasks.create", TREE)
    assert [c["id"] for c in tree["children"]] == ["c1", "c2"]
    one = await result(base_url, "tasks.create", {"id": "solo", "name": "x"})
    assert one["id"] == "solo" and one["children"] == []
    assert (await result(base_url, "tasks.get", {"task_id": "c1"}))["parent_id"] == "r"
    detail = await result(base_url, "tasks.detail", {"task_id": "c1"})
    assert detail["dependent_task_ids"] == ["r"] and detail["children"] == []
    assert (await result(base_url, "tasks.tree", {"task_id": "c2"}))["id"] == "r"
    assert [c["id"] for c in await result(base_url, "tasks.children", {"task_id": "r"})] == [
        "c1",
        "c2",
    ]
    listed = await result(base_url, "tasks.list", {"root_only": True, "limit": 10})
    assert {t["id"] for t in listed} == {"r", "solo"}
    assert [
        t["id"]
        for t in await result(base_url, "tasks.list", {"user_id": "alice", "limit": 1, "offset": 2})
    ] == ["r"]


async def test_update_is_all_or_nothing(base_url: str, db) -> None:
    await result(base_url, "tasks.create", TREE)
    updated = await result(
        base_url, "tasks.update", {"task_id": "c1", "name": "cpu", "priority": 0}
    )
    assert (updated["name"], updated["priority"]) == ("cpu", 0)
    failure = await error(
        base_url, "tasks.update", {"task_id": "c1", "name": "half", "priority": "bad"}
    )
    assert failure["code"] == -32602 and "priority" in failure["message"]
    assert (await TaskRepository(db).get_task_by_id("c1")).name == "cpu"
    immutable = await error(base_url, "tasks.update", {"task_id": "c1", "user_id": "bob"})
    assert immutable["code"] == -32602 and "user_id" in immutable["message"]


async def test_delete_only_pending_trees_nobody_depends_on(base_url: str) -> None:
    await result(base_url, "tasks.create", TREE)
    refused = await error(base_url, "tasks.delete", {"task_id": "c1"})
    assert refused["code"] == -32602 and "'r'" in refused["message"]
    deleted = await result(base_url, "tasks.delete", {"task_id": "r"})
    assert deleted == {"success": True, "deleted_task_ids": ["r", "c1", "c2"]}
    await result(
        base_url, "tasks.execute", {"tasks": [{"id": "ran", "name": "system_info_executor"}]}
    )
    assert "pending" in (await error(base_url, "tasks.delete", {"task_id": "ran"}))["message"]


async def test_execute_answers_with_the_real_root_and_status(base_url: str) -> None:
    await result(base_url, "tasks.create", TREE)
    answer = await result(base_url, "tasks.execute", {"task_id": "r"})
    assert (answer["root_task_id"], answer["status"], answer["task_count"]) == ("r", "completed", 3)
    assert set(answer["result"]["results"]) == {"c1", "c2"}
    failing = await result(
        base_url, "tasks.execute", {"tasks": [{"id": "f", "name": "no_such_executor"}]}
    )
    assert (failing["root_task_id"], failing["status"]) == ("f", "failed")


async def test_execute_streams_sse_ending_with_final(base_url: str) -> None:
    await result(base_url, "tasks.create", TREE)
    events = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        client.stream(
            "POST",
            "/tasks",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tasks.execute",
                "params": {"task_id": "r", "use_streaming": True},
            },
        ) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:])["result"])
    assert events[-1]["type"] == "final" and events[-1]["status"] == "completed"
    assert {"task_start", "task_completed"} <= {e["type"] for e in events}


async def test_execute_webhook_posts_every_change(base_url: str) -> None:
    sink = CallbackSink()
    with serving(sink.app) as sink_url:
        answer = await result(
            base_url,
            "tasks.execute",
            {
                "tasks": [{"id": "w", "name": "system_info_executor"}],
                "webhook_config": {
                    "url": f"{sink_url}/callback",
                    "headers": {"X-Key": "k"},
                    "method": "PUT",
                    "max_retries": 1,
                },
            },
        )
        assert answer["status"] == "completed"
        await sink.wait_for(lambda got: got and got[-1][1]["type"] == "final")
    assert [body["type"] for _, body in sink.received] == ["task_start", "task_completed", "final"]
    assert sink.received[0][0]["x-key"] == "k"
    refused = await error(
        base_url,
        "tasks.execute",
        {
            "tasks": [{"id": "x", "name": "system_info_executor"}],
            "webhook_config": {"url": "http://203.0.113.9/hook"},
        },
    )
    assert refused["code"] == -32602 and "203.0.113.9" in refused["message"]


async def test_cancel_copy_running_history_and_time_travel(base_url: str, db) -> None:
    await result(base_url, "tasks.create", [{"id": "slow", "name": "wait_executor"}])
    running = asyncio.create_task(result(base_url, "tasks.execute", {"task_id": "slow"}))
    repo = TaskRepository(db)
    while (await repo.get_task_by_id("slow")).status != "in_progress":
        await asyncio.sleep(0.02)
    assert (await result(base_url, "tasks.running.count"))["count"] == 1
    assert [t["id"] for t in await result(base_url, "tasks.running.list")] == ["slow"]
    status = await result(base_url, "tasks.running.status", {"task_ids": ["slow", "nope"]})
    assert [s["status"] for s in status] == ["in_progress", "not_found"]
    answers = await result(
        base_url, "tasks.cancel", {"task_ids": ["slow", "nope"], "error_message": "stop"}
    )
    assert [a["status"] for a in answers] == ["cancelled", "failed"]
    assert (await running)["status"] == "cancelled"
    copy = await result(base_url, "tasks.copy", {"task_id": "slow"})
    assert copy["original_task_id"] == "slow" and copy["status"] == "pending"
    entries = await result(base_url, "tasks.history", {"task_id": "slow"})
    assert [e["type"] for e in entries] == ["created", "started", "cancelled", "copied"]
    past = await result(
        base_url, "tasks.at", {"task_id": "slow", "position": entries[1]["position"]}
    )
    assert past["status"] == "in_progress"
    assert (await result(base_url, "tasks.at", {"task_id": "slow", "at": entries[0]["timestamp"]}))[
        "status"
    ] == "pending"


async def test_protocol_errors(base_url: str) -> None:
    assert (await error(base_url, "tasks.fly"))["code"] == -32601
    assert (await error(base_url, "tasks.get", {"task_id": "ghost"}))["code"] == -32001
    assert (await error(base_url, "tasks.get", {}))["code"] == -32602
    assert (await error(base_url, "tasks.get", {"task_id": 5}))["code"] == -32602
    assert (await error(base_url, "tasks.list", {"status": "weird"}))["code"] == -32602
    bad_tree = await error(base_url, "tasks.create", [{"id": "a", "name": "a", "parent_id": "zz"}])
    assert bad_tree["code"] == -32602 and "zz" in bad_tree["message"]
    async with httpx.AsyncClient(base_url=base_url) as client:
        parse = (await client.post("/tasks", content=b"{nope")).json()
        assert parse["error"]["code"] == -32700
        too_big = await client.post("/tasks", content=b"x" * 30_000)
        assert too_big.status_code == 413 and "bytes" in too_big.json()["error"]
    health = await result(base_url, "system.health", path="/system")
    assert health["status"] == "healthy" and health["database"] == "ok"


async def test_auth_scopes_every_call_to_its_user(auth_url: str) -> None:
    alice, bob = issue_token(SECRET, "alice"), issue_token(SECRET, "bob")
    async with httpx.AsyncClient(base_url=auth_url) as client:
        assert (
            await client.post("/tasks", json={"jsonrpc": "2.0", "id": 1, "method": "tasks.list"})
        ).status_code == 401
        forged = {
            "Authorization": f"Bearer {issue_token('another-secret-of-at-least-32-bytes', 'alice')}"
        }
        assert (await client.post("/tasks", headers=forged, json={})).status_code == 401
        assert (await client.get("/.well-known/agent-card.json")).status_code == 200
        assert (await client.post("/", json={})).status_code == 401
    created = await result(auth_url, "tasks.create", [{"id": "a1", "name": "x"}], token=alice)
    assert created["user_id"] == "alice"
    assert (
        await error(
            auth_url, "tasks.create", [{"id": "b1", "name": "x", "user_id": "alice"}], token=bob
        )
    )["code"] == -32602
    for method, params in [
        ("tasks.get", {"task_id": "a1"}),
        ("tasks.detail", {"task_id": "a1"}),
        ("tasks.update", {"task_id": "a1", "name": "mine"}),
        ("tasks.copy", {"task_id": "a1"}),
        ("tasks.delete", {"task_id": "a1"}),
        ("tasks.history", {"task_id": "a1"}),
        ("tasks.execute", {"task_id": "a1"}),
    ]:
        assert (await error(auth_url, method, params, token=bob))["code"] == -32001, method
    cancel = await result(auth_url, "tasks.cancel", {"task_ids": ["a1"]}, token=bob)
    assert cancel[0]["status"] == "failed"
    assert await result(auth_url, "tasks.list", token=bob) == []
    assert (await error(auth_url, "tasks.list", {"user_id": "alice"}, token=bob))["code"] == -32602
    assert [t["id"] for t in await result(auth_url, "tasks.list", token=alice)] == ["a1"]
    assert (await result(auth_url, "tasks.get", {"task_id": "a1"}, token=alice))["id"] == "a1"


async def test_background_execute_queues_the_tree_for_the_server_to_run(db) -> None:
    with serving(lambda url: create_app(db, base_url=url)) as url:
        refused = await error(
            url,
            "tasks.execute",
            {
                "tasks": [{"id": "never", "name": "system_info_executor"}],
                "background": True,
                "use_streaming": True,
            },
        )
        assert refused["code"] == -32602
        await error(url, "tasks.get", {"task_id": "never"})  # nothing was written
        queued = await result(
            url,
            "tasks.execute",
            {"tasks": [{"id": "bg", "name": "system_info_executor"}], "background": True},
        )
        assert queued["status"] == "queued" and queued["root_task_id"] == "bg"
        deadline = asyncio.get_running_loop().time() + 60
        while (await result(url, "tasks.get", {"task_id": "bg"}))["status"] != "completed":
            assert asyncio.get_running_loop().time() < deadline, "the queued tree never ran"
            await asyncio.sleep(0.1)


async def test_fork_and_diff_over_json_rpc(base_url: str) -> None:
    await result(base_url, "tasks.create", TREE)
    await result(base_url, "tasks.execute", {"task_id": "r"})
    fork = await result(
        base_url,
        "tasks.fork",
        {"task_id": "r", "overrides": {"c1": {"inputs": {"resource": "disk"}}}},
    )
    assert fork["id"] != "r" and fork["original_task_id"] == "r"
    assert fork["status"] == "pending"
    assert (await result(base_url, "tasks.execute", {"task_id": fork["id"]}))["status"] == (
        "completed"
    )
    compared = await result(base_url, "tasks.diff", {"task_id": "r", "other_task_id": fork["id"]})
    assert compared["summary"]["identical"] is False
    changed = [t for t in compared["tasks"] if t["state"] == "changed"]
    assert any(t["a"] == "c1" and "inputs" in t["changes"] for t in changed)
    assert (await error(base_url, "tasks.fork", {"task_id": "nobody"}))["code"] < 0
    assert (await error(base_url, "tasks.diff", {"task_id": "r"}))["code"] == -32602
