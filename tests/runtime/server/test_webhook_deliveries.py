"""Webhooks are delivered from a background queue per subscriber: a run's reply never
waits for them; deliveries stay in order, are bounded, and are retried."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.server import serving

from aipartnerupflow.runtime.server import create_app
from aipartnerupflow.runtime.server.webhooks import Callback, Deliveries, backoff


class GatedSink:
    """A receiver that holds every request until ``gate`` opens, then records it; with
    ``failures``, the first requests answer 500."""

    def __init__(self, failures: int = 0) -> None:
        self.gate = threading.Event()
        self.received: list[Any] = []
        self.failures = failures

        async def hook(request: Request) -> JSONResponse:
            await asyncio.to_thread(self.gate.wait)
            if self.failures:
                self.failures -= 1
                return JSONResponse({}, status_code=500)
            self.received.append(await request.json())
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def two_tasks(tag: str) -> list[dict[str, Any]]:
    return [
        {"id": f"root-{tag}", "name": "aggregate_results_executor", "dependencies": [tag]},
        {"id": tag, "name": "aggregate_results_executor", "parent_id": f"root-{tag}"},
    ]


async def test_the_reply_does_not_wait_for_a_held_webhook_and_events_arrive_in_order(db) -> None:
    sink = GatedSink()
    with (
        serving(sink.app) as sink_url,
        serving(lambda url: create_app(db, base_url=url, recover=False)) as base,
    ):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            replies = []
            for tag in ("a", "b"):
                response = await client.post(
                    "/tasks",
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "tasks.execute",
                        "params": {
                            "tasks": two_tasks(tag),
                            "webhook_config": {"url": f"{sink_url}/hook", "timeout": 60},
                        },
                    },
                )
                replies.append(response.json()["result"])
        # Both runs answered while the receiver still held its first request.
        assert [reply["status"] for reply in replies] == ["completed", "completed"]
        assert sink.received == []
        sink.gate.set()
        while len([e for e in sink.received if e["type"] == "final"]) < 2:
            await asyncio.sleep(0.02)
    kinds = [(event["root_task_id"], event["type"]) for event in sink.received]
    expected = ["task_start", "task_completed"] * 2 + ["final"]
    assert kinds == [("root-a", kind) for kind in expected] + [
        ("root-b", kind) for kind in expected
    ]


async def test_a_full_queue_drops_and_a_failing_delivery_is_retried() -> None:
    sink = GatedSink(failures=1)
    with serving(sink.app) as sink_url:
        async with httpx.AsyncClient() as client:
            deliveries = Deliveries(client, capacity=2)
            callback = Callback(url=f"{sink_url}/hook", timeout=60, max_retries=2)
            assert deliveries.send(callback, {"n": 0})
            await asyncio.sleep(0)  # the worker starts and takes the first one
            # Two wait in the queue; the fourth is dropped.
            sent = [deliveries.send(callback, {"n": n}) for n in range(1, 4)]
            assert sent == [True, True, False]
            sink.gate.set()
            await deliveries.drain()
    assert sink.received == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert deliveries.subscribers == {}


def test_backoff_grows_is_capped_and_jittered() -> None:
    assert all(0.05 <= backoff(0) <= 0.1 for _ in range(100))
    assert all(0.4 <= backoff(3) <= 0.8 for _ in range(100))
    assert all(15 <= backoff(30) <= 30 for _ in range(100))
    assert len({backoff(5) for _ in range(20)}) > 1
