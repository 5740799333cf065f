"""The A2A server driven by the real a2a-sdk 0.3 client, written as in the reference."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.errors import A2AClientJSONRPCError
from a2a.types import (
    AgentCard,
    DataPart,
    Message,
    PushNotificationAuthenticationInfo,
    PushNotificationConfig,
    Role,
    Task,
    TaskIdParams,
    TaskPushNotificationConfig,
    TaskQueryParams,
    TaskState,
    TextPart,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from support.samples import A2A_TREE as TREE
from support.server import CallbackSink, serving

from aipartnerupflow import BaseTask, TaskRepository, get_registry
from aipartnerupflow.runtime.server import create_app


class Sleepy(BaseTask):
    id = "sleepy_executor"
    name = "sleepy"
    description = "sleeps until cancelled"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {}

    async def cancel(self) -> dict[str, Any]:
        return {"partial_result": "half", "token_usage": {"total": 7}}


@pytest.fixture
def base_url(db):
    get_registry().register_executor(Sleepy)
    with serving(lambda url: create_app(db, base_url=url, recover=False)) as url:
        yield url
    get_registry().unregister_executor("sleepy_executor")


async def make_client(base_url: str, streaming: bool = True, **config: Any):
    httpx_client = httpx.AsyncClient(base_url=base_url, timeout=30)
    factory = ClientFactory(
        config=ClientConfig(streaming=streaming, polling=False, httpx_client=httpx_client, **config)
    )
    card_response = await httpx_client.get(AGENT_CARD_WELL_KNOWN_PATH)
    agent_card = AgentCard(**card_response.json())
    return factory.create(card=agent_card), httpx_client


def data_of(response: Any) -> list[dict[str, Any]]:
    """DataPart payloads of a client response: a Message, or a (Task, update) pair."""
    if isinstance(response, Message):
        messages = [response]
    else:
        task, update = response
        status = update.status if update is not None and hasattr(update, "status") else task.status
        messages = [status.message] if status.message else []
    return [part.root.data for m in messages for part in m.parts if part.root.kind == "data"]


def text_message(text: str, task_id: str | None = None, **metadata: Any) -> Message:
    return Message(
        message_id=str(uuid.uuid4()),
        role=Role.user,
        parts=[TextPart(text=text)],
        task_id=task_id,
        metadata=metadata or None,
    )


def tree_message(tasks: list[dict[str, Any]], **metadata: Any) -> Message:
    return Message(
        message_id=str(uuid.uuid4()),
        role=Role.user,
        parts=[DataPart(kind="data", data={"tasks": tasks})],
        metadata=metadata or None,
    )


SYSTEM_TASK = {
    "id": "task-1",
    "name": "My Task",
    "user_id": "user123",
    "schemas": {"method": "system_info_executor"},
    "inputs": {},
}


async def test_agent_card_declares_streaming_and_push(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for path in ("/.well-known/agent-card.json", "/.well-known/agent.json"):
            card = (await client.get(path)).json()
            assert card["capabilities"] == {"streaming": True, "pushNotifications": True}
            assert card["url"] == base_url + "/"


async def test_non_streaming_send(base_url: str, db) -> None:
    client, httpx_client = await make_client(base_url, streaming=False)
    responses = [r async for r in client.send_message(tree_message([SYSTEM_TASK]))]
    await httpx_client.aclose()
    task, _ = responses[-1]
    assert task.status.state == TaskState.completed
    final = data_of(responses[-1])[-1]
    assert final["protocol"] == "a2a" and final["status"] == "completed"
    assert (final["progress"], final["root_task_id"], final["task_count"]) == (1.0, "task-1", 1)
    stored = await TaskRepository(db).get_task_by_id("task-1")
    assert stored.status == "completed" and stored.result["cores"] >= 1


async def test_streaming_tree_with_dependencies(base_url: str) -> None:
    client, httpx_client = await make_client(base_url)
    updates: list[dict[str, Any]] = []
    async for response in client.send_message(tree_message(TREE, stream=True)):
        updates.extend(data_of(response))
    await httpx_client.aclose()
    changes = [(u.get("type"), u.get("task_id")) for u in updates if "type" in u]
    assert ("task_completed", "child-1") in changes
    assert (
        changes.index(("task_completed", "child-1"))
        < changes.index(("task_start", "child-2"))
        < changes.index(("task_start", "parent-task"))
    )
    final = updates[-1]
    assert final["status"] == "completed" and final["task_count"] == 3
    assert set(final["result"]["results"]) == {"child-1", "child-2"}


async def test_bad_tree_fails_with_a_clear_error(base_url: str, db) -> None:
    client, httpx_client = await make_client(base_url, streaming=False)
    bad = [{"id": "a", "name": "a", "dependencies": ["nowhere"]}]
    responses = [r async for r in client.send_message(tree_message(bad))]
    await httpx_client.aclose()
    final = data_of(responses[-1])[-1]
    assert final["status"] == "failed" and "nowhere" in final["error"]
    assert await TaskRepository(db).list_tasks() == []


async def test_push_notifications_reach_a_loopback_receiver(base_url: str) -> None:
    sink = CallbackSink()
    with serving(sink.app) as sink_url:
        push = PushNotificationConfig(
            url=f"{sink_url}/callback",
            token="tok",
            authentication=PushNotificationAuthenticationInfo(
                schemes=["Bearer"], credentials="secret"
            ),
        )
        client, httpx_client = await make_client(
            base_url, streaming=False, push_notification_configs=[push]
        )
        [r async for r in client.send_message(tree_message([SYSTEM_TASK]))]
        await httpx_client.aclose()
        await sink.wait_for(
            lambda got: any(body["status"]["state"] == "completed" for _, body in got)
        )
    headers, _ = sink.received[0]
    assert headers["x-a2a-notification-token"] == "tok"
    assert headers["authorization"] == "Bearer secret"
    states = [body["status"]["state"] for _, body in sink.received]
    assert states[0] == "working" and states[-1] == "completed"  # every change, in order


async def test_push_to_a_foreign_host_is_refused_when_set(base_url: str, db) -> None:
    push = PushNotificationConfig(url="http://example.org/callback")
    client, httpx_client = await make_client(
        base_url, streaming=False, push_notification_configs=[push]
    )
    with pytest.raises(A2AClientJSONRPCError, match=r"example\.org") as refused:
        [r async for r in client.send_message(tree_message([SYSTEM_TASK]))]
    assert refused.value.error.code == -32602
    assert await TaskRepository(db).list_tasks() == []
    await httpx_client.aclose()
    plain, plain_http = await make_client(base_url, streaming=False)
    waiting, _ = [r async for r in plain.send_message(text_message("hello"))][-1]
    config = TaskPushNotificationConfig(task_id=waiting.id, push_notification_config=push)
    with pytest.raises(A2AClientJSONRPCError, match=r"example\.org"):
        await plain.set_task_callback(config)
    await plain_http.aclose()


async def _wait_running(db, task_id: str) -> None:
    repo = TaskRepository(db)
    for _ in range(500):
        task = await repo.get_task_by_id(task_id)
        if task is not None and task.status == "in_progress":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{task_id} never started")


async def _until(condition: Any) -> None:
    """Wait (on the loop) until ``condition()`` holds: the stream delivered something."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the stream delivered nothing")


async def test_cancel_by_message_ends_the_open_stream(base_url: str, db) -> None:
    tasks = [{"id": "long", "name": "sleepy", "schemas": {"method": "sleepy_executor"}}]
    client, httpx_client = await make_client(base_url)
    seen: list[dict[str, Any]] = []

    async def stream() -> None:
        async for response in client.send_message(tree_message(tasks)):
            seen.extend(data_of(response))

    streaming = asyncio.create_task(stream())
    await _wait_running(db, "long")
    cancel_message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.user,
        parts=[],
        task_id="long",
        metadata={"error_message": "User requested cancellation"},
    )
    answers: list[dict[str, Any]] = []
    async for response in client.send_message(cancel_message):
        answers.extend(data_of(response))
    await asyncio.wait_for(streaming, 10)
    await httpx_client.aclose()
    answer = answers[-1]
    assert (answer["protocol"], answer["status"]) == ("a2a", "cancelled")
    assert answer["message"] == "User requested cancellation"
    assert (answer["result"], answer["token_usage"]) == ("half", {"total": 7})
    assert seen[-1]["status"] == "cancelled"
    assert (await TaskRepository(db).get_task_by_id("long")).status == "cancelled"


async def test_tasks_cancel_reaches_the_open_stream(base_url: str, db) -> None:
    tasks = [{"id": "long2", "name": "sleepy", "schemas": {"method": "sleepy_executor"}}]
    client, httpx_client = await make_client(base_url)
    states: list[TaskState] = []
    a2a_ids: list[str] = []

    async def stream() -> None:
        async for task, _ in client.send_message(tree_message(tasks)):
            a2a_ids.append(task.id)
            states.append(task.status.state)

    streaming = asyncio.create_task(stream())
    await _wait_running(db, "long2")
    await _until(lambda: a2a_ids)
    cancelled = await client.cancel_task(TaskIdParams(id=a2a_ids[0]))
    assert isinstance(cancelled, Task) and cancelled.status.state == TaskState.canceled
    await asyncio.wait_for(streaming, 10)
    await httpx_client.aclose()
    assert states[-1] == TaskState.canceled


async def test_copy_execution_with_and_without_children(base_url: str, db) -> None:
    client, httpx_client = await make_client(base_url, streaming=False)
    [r async for r in client.send_message(tree_message(TREE))]
    for children, count in ((False, 3), (True, 3)):  # the root's copy is the whole tree
        message = Message(
            message_id=str(uuid.uuid4()),
            role=Role.user,
            parts=[DataPart(kind="data", data={})],
            metadata={"task_id": "parent-task", "copy_execution": True, "copy_children": children},
        )
        responses = [r async for r in client.send_message(message)]
        final = data_of(responses[-1])[-1]
        assert final.get("metadata", {}).get("original_task_id") == "parent-task", final
        assert final["root_task_id"] != "parent-task" and final["task_count"] == count
        copy = await TaskRepository(db).get_task_by_id(final["root_task_id"])
        assert copy.original_task_id == "parent-task"
    await httpx_client.aclose()
    assert (await TaskRepository(db).get_task_by_id("parent-task")).has_copy is True


async def test_a2a_with_auth_acts_as_the_token_user(db) -> None:
    from aipartnerupflow.runtime.server import issue_token

    secret = "a-test-secret-of-at-least-32-bytes!"
    with serving(
        lambda url: create_app(db, base_url=url, recover=False, auth_secret=secret)
    ) as url:

        async def client_for(user: str):
            headers = {"Authorization": f"Bearer {issue_token(secret, user)}"}
            httpx_client = httpx.AsyncClient(base_url=url, timeout=30, headers=headers)
            factory = ClientFactory(config=ClientConfig(streaming=False, httpx_client=httpx_client))
            card = AgentCard(**(await httpx_client.get(AGENT_CARD_WELL_KNOWN_PATH)).json())
            return factory.create(card=card), httpx_client

        alice, alice_http = await client_for("alice")
        bob, bob_http = await client_for("bob")
        mine = [{"id": "alice-task", "name": "system_info_executor"}]
        alice_task, _ = [r async for r in alice.send_message(tree_message(mine))][-1]
        assert (await TaskRepository(db).get_task_by_id("alice-task")).user_id == "alice"
        query = TaskQueryParams(id=alice_task.id)
        assert (await alice.get_task(query)).status.state == TaskState.completed
        with pytest.raises(Exception, match="not found"):
            await bob.get_task(query)
        copy = Message(
            message_id=str(uuid.uuid4()),
            role=Role.user,
            parts=[DataPart(kind="data", data={})],
            metadata={"task_id": "alice-task", "copy_execution": True},
        )
        refused = data_of([r async for r in bob.send_message(copy)][-1])[-1]
        assert refused["status"] == "failed" and refused["error_type"] == "TaskNotFoundError"
        async with httpx.AsyncClient(base_url=url) as anonymous:
            assert (
                await anonymous.post(
                    "/", json={"jsonrpc": "2.0", "id": 1, "method": "message/send"}
                )
            ).status_code == 401
        await alice_http.aclose()
        await bob_http.aclose()


def text_of(task: Task) -> str:
    message = task.status.message
    return " ".join(p.root.text for p in message.parts if p.root.kind == "text") if message else ""


async def test_a_message_without_tasks_waits_for_them_on_the_same_task(base_url: str) -> None:
    client, httpx_client = await make_client(base_url, streaming=False)
    waiting, _ = [r async for r in client.send_message(text_message("Hello"))][-1]
    assert waiting.status.state == TaskState.input_required
    assert '{"tasks": [...]}' in text_of(waiting)
    again, _ = [r async for r in client.send_message(text_message("still?", waiting.id))][-1]
    assert (again.id, again.status.state) == (waiting.id, TaskState.input_required)
    as_text = text_message(json.dumps({"tasks": [{**SYSTEM_TASK, "id": "typed"}]}), waiting.id)
    done, _ = [r async for r in client.send_message(as_text)][-1]
    assert (done.id, done.status.state) == (waiting.id, TaskState.completed)
    assert data_of((done, None))[-1]["root_task_id"] == "typed"
    stored = await client.get_task(TaskQueryParams(id=waiting.id))
    assert stored.status.state == TaskState.completed
    assert [m.role for m in stored.history or []].count(Role.user) == 3
    await httpx_client.aclose()


async def test_streaming_resume_of_a_waiting_task(base_url: str) -> None:
    client, httpx_client = await make_client(base_url)
    first = [task async for task, _ in client.send_message(text_message("hi"))]
    waiting = first[-1]
    assert waiting.status.state == TaskState.input_required
    message = tree_message([SYSTEM_TASK])
    message.task_id = waiting.id
    seen = [(task.id, task.status.state) async for task, _ in client.send_message(message)]
    assert seen[-1] == (waiting.id, TaskState.completed)
    assert TaskState.working in {state for _, state in seen}
    await httpx_client.aclose()


@pytest.mark.parametrize("form", ["tasks/cancel", "metadata", "no parts"])
async def test_every_cancel_form_cancels_a_waiting_task(base_url: str, form: str) -> None:
    client, httpx_client = await make_client(base_url, streaming=False)
    waiting, _ = [r async for r in client.send_message(text_message("Hello"))][-1]
    if form == "tasks/cancel":
        cancelled = await client.cancel_task(TaskIdParams(id=waiting.id))
    else:
        message = text_message("stop", waiting.id, cancel=True)
        if form == "no parts":
            message = Message(message_id="m", role=Role.user, parts=[], task_id=waiting.id)
        cancelled, _ = [r async for r in client.send_message(message)][-1]
    assert (cancelled.id, cancelled.status.state) == (waiting.id, TaskState.canceled)
    assert (await client.get_task(TaskQueryParams(id=waiting.id))).status.state == (
        TaskState.canceled
    )
    with pytest.raises(A2AClientJSONRPCError) as again:
        await client.cancel_task(TaskIdParams(id=waiting.id))
    assert again.value.error.code == -32002
    await httpx_client.aclose()


async def test_cancel_applies_to_the_run_when_its_root_has_finished(base_url: str, db) -> None:
    tasks = [
        {"id": "root", "name": "root", "schemas": {"method": "system_info_executor"}},
        {
            "id": "slow",
            "name": "slow",
            "parent_id": "root",
            "schemas": {"method": "sleepy_executor"},
        },
        {
            "id": "after",
            "name": "after",
            "parent_id": "root",
            "dependencies": [{"id": "slow"}],
            "schemas": {"method": "system_info_executor"},
        },
    ]
    client, httpx_client = await make_client(base_url)
    ids: list[str] = []

    async def stream() -> None:
        async for task, _ in client.send_message(tree_message(tasks)):
            ids.append(task.id)

    streaming = asyncio.create_task(stream())
    await _wait_running(db, "slow")
    repo = TaskRepository(db)
    for _ in range(500):
        if (await repo.get_task_by_id("root")).status == "completed":
            break
        await asyncio.sleep(0.02)
    assert (await repo.get_task_by_id("root")).status == "completed"
    await _until(lambda: ids)
    cancelled = await client.cancel_task(TaskIdParams(id=ids[0]))
    assert cancelled.status.state == TaskState.canceled
    await asyncio.wait_for(streaming, 10)
    await httpx_client.aclose()
    statuses = {t: (await repo.get_task_by_id(t)).status for t in ("root", "slow", "after")}
    assert statuses == {"root": "completed", "slow": "cancelled", "after": "cancelled"}
