"""A2A tasks survive the server: SIGKILL a real server process, start it again on the
same database, and every A2A task (waiting or running) and push config is still there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from a2a.client import ClientConfig, ClientFactory
from a2a.types import AgentCard, DataPart, Message, Role, TaskState
from support.server import free_port

SERVER = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    import uvicorn
    from aipartnerupflow import BaseTask, create_session, executor_register
    from aipartnerupflow.runtime.server import create_app

    @executor_register()
    class Gate(BaseTask):
        id = "gate_executor"
        name = "gate"
        description = "finishes once its file exists"

        async def execute(self, inputs):
            while not pathlib.Path(inputs["file"]).exists():
                await asyncio.sleep(0.02)
            return {"opened": True}

    port = int(sys.argv[2])
    app = create_app(create_session(path=sys.argv[1]), base_url=f"http://127.0.0.1:{port}")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    """
)


@contextmanager
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "a2a.db"), str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(f"{url}/.well-known/agent-card.json").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def call(url: str, method: str, params: Any, path: str = "/") -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = httpx.post(url + path, json=body, timeout=30).json()
    assert "result" in answer, answer
    return answer["result"]


def send(url: str, parts: list[dict[str, Any]], **configuration: Any) -> Any:
    message = {"kind": "message", "messageId": str(uuid.uuid4()), "role": "user", "parts": parts}
    return call(url, "message/send", {"message": message, "configuration": configuration})


def until(condition: Any) -> Any:
    deadline = time.monotonic() + 30
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)
    return value


async def test_tasks_and_push_configs_survive_sigkill(tmp_path: Path) -> None:
    gate_file = tmp_path / "open"
    gate = {"id": "gate", "name": "gate_executor", "inputs": {"file": str(gate_file)}}
    push = {"id": "p1", "url": "http://127.0.0.1:9/callback", "token": "tok"}
    with server(tmp_path) as (url, process):
        waiting = send(url, [{"kind": "text", "text": "Hello"}])
        assert waiting["status"]["state"] == "input-required"
        call(
            url,
            "tasks/pushNotificationConfig/set",
            {"taskId": waiting["id"], "pushNotificationConfig": push},
        )
        running = send(url, [{"kind": "data", "data": {"tasks": [gate]}}], blocking=False)
        until(
            lambda: call(url, "tasks.get", {"task_id": "gate"}, "/tasks")["status"] == "in_progress"
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    with server(tmp_path) as (url, _):
        again = call(url, "tasks/get", {"id": waiting["id"]})
        assert again["status"]["state"] == "input-required"
        assert [m["parts"][0]["text"] for m in again["history"] if m["role"] == "user"] == ["Hello"]
        configs = call(url, "tasks/pushNotificationConfig/list", {"id": waiting["id"]})
        assert [c["pushNotificationConfig"] for c in configs] == [push]
        assert call(url, "tasks/get", {"id": running["id"]})["status"]["state"] == "working"
        gate_file.touch()  # the recovered run may now finish
        done = until(
            lambda: (
                (task := call(url, "tasks/get", {"id": running["id"]}))["status"]["state"]
                == "completed"
                and task
            )
        )
        assert done["status"]["message"]["parts"][0]["data"]["root_task_id"] == "gate"

        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            card = AgentCard(**(await http.get("/.well-known/agent-card.json")).json())
            client = ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(card)
            resume = Message(
                message_id=str(uuid.uuid4()),
                role=Role.user,
                task_id=waiting["id"],
                parts=[DataPart(data={"tasks": [{"id": "info", "name": "system_info_executor"}]})],
            )
            task, _ = [r async for r in client.send_message(resume)][-1]
        assert (task.id, task.status.state) == (waiting["id"], TaskState.completed)
