"""The A2A endpoint at the JSON-RPC level, over real HTTP: what the spec requires of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.server import serving

from aipartnerupflow.runtime.server import create_app, issue_token

SECRET = "a-test-secret-of-at-least-32-bytes!"


@pytest.fixture
def base_url(db):
    with serving(lambda url: create_app(db, base_url=url, recover=False, max_body=4096)) as url:
        yield url


def request(method: str, params: Any, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def message(*parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "message": {
            "kind": "message",
            "messageId": str(uuid.uuid4()),
            "role": "user",
            "parts": list(parts),
            **fields,
        }
    }


async def post(url: str, body: Any) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post("/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def waiting_task(url: str) -> str:
    answer = await post(url, request("message/send", message({"kind": "text", "text": "hi"})))
    assert answer["result"]["status"]["state"] == "input-required"
    return str(answer["result"]["id"])


@pytest.mark.parametrize(
    "parts",
    [[], [{"type": "unsupported", "text": "no kind"}], [{"kind": "video", "text": "x"}]],
)
async def test_messages_need_parts_with_a_kind(base_url: str, parts: list[Any]) -> None:
    answer = await post(base_url, request("message/send", message(*parts)))
    assert answer["error"]["code"] == -32602


async def test_negative_history_length_is_invalid(base_url: str) -> None:
    task_id = await waiting_task(base_url)
    for length, ok in ((-1, False), (0, True), (2_147_483_647, True)):
        answer = await post(
            base_url, request("tasks/get", {"id": task_id, "historyLength": length})
        )
        assert ("result" in answer) is ok, answer
    assert answer["result"]["history"]
    refused = await post(base_url, request("tasks/get", {"id": task_id, "historyLength": -1}))
    assert refused["error"]["code"] == -32602


async def test_push_config_delete_answers_result_null(base_url: str) -> None:
    task_id = await waiting_task(base_url)
    config = {
        "taskId": task_id,
        "pushNotificationConfig": {"id": "c1", "url": "http://127.0.0.1:9/cb"},
    }
    assert "result" in await post(base_url, request("tasks/pushNotificationConfig/set", config))
    params = {"id": task_id, "pushNotificationConfigId": "c1"}
    answer = await post(base_url, request("tasks/pushNotificationConfig/delete", params))
    assert answer == {"jsonrpc": "2.0", "id": 1, "result": None}
    listed = await post(base_url, request("tasks/pushNotificationConfig/list", {"id": task_id}))
    assert listed["result"] == []


async def test_batches_answer_each_request(base_url: str) -> None:
    task_id = await waiting_task(base_url)
    batch = [
        request("tasks/get", {"id": task_id}, "a"),
        request("no/such/method", {}, "b"),
        request("message/stream", message({"kind": "text", "text": "x"}), "c"),
        {"jsonrpc": "2.0", "method": "tasks/get", "params": {"id": task_id}},  # a notification
        request("tasks/get", {"id": task_id, "historyLength": -1}, "d"),
    ]
    answers = {a["id"]: a for a in await post(base_url, batch)}
    assert set(answers) == {"a", "b", "c", "d"}
    assert answers["a"]["result"]["id"] == task_id
    assert answers["b"]["error"]["code"] == -32601
    assert answers["c"]["error"]["code"] == -32600
    assert answers["d"]["error"]["code"] == -32602
    assert (await post(base_url, []))["error"]["code"] == -32600


async def test_streamed_bodies_over_the_limit_are_refused(base_url: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000  # no Content-Length: only counting the bytes can tell

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/", content=chunks())
        assert response.status_code == 413
        small = await client.post("/", content=b"[]", headers={"content-type": "application/json"})
        assert small.status_code == 200


async def test_auth_is_advertised_and_challenged(db) -> None:
    with serving(
        lambda url: create_app(db, base_url=url, recover=False, auth_secret=SECRET)
    ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            card = (await client.get("/.well-known/agent-card.json")).json()
            assert card["securitySchemes"] == {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            assert card["security"] == [{"bearer": []}]
            refused = await client.post("/", json=request("tasks/get", {"id": "x"}))
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer ")
            headers = {"Authorization": f"Bearer {issue_token(SECRET, 'alice')}"}
            allowed = await client.post(
                "/", json=request("tasks/get", {"id": "x"}), headers=headers
            )
            assert allowed.json()["error"]["code"] == -32001


async def test_public_url_is_what_the_card_advertises(db) -> None:
    app = create_app(
        db, base_url="http://0.0.0.0:1", public_url="https://flow.example/", recover=False
    )
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            card = (await client.get("/.well-known/agent-card.json")).json()
    assert card["url"] == "https://flow.example/"
