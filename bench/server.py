"""Server figures on loopback: latency of a blocking A2A ``message/send`` of a one-task
tree, and requests per second at concurrency 16.

    python bench/server.py            # 500 sequential requests, then 10 s at concurrency 16
    python bench/server.py --quick    # 50 requests, 2 s

The server runs in its own process (uvicorn, durable SQLite file in a temporary
directory); the client sends JSON-RPC with httpx. Target: p50 <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

SERVER = """
import sys
from aipartnerupflow import create_session
from aipartnerupflow.runtime.server import run_server
run_server(create_session(path=sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send_request() -> dict:
    """message/send of a one-task tree (a trivial built-in executor)."""
    task = {"id": str(uuid.uuid4()), "name": "aggregate_results_executor"}
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": str(uuid.uuid4()),
                "role": "user",
                "parts": [{"kind": "data", "data": {"tasks": [task]}}],
            }
        },
    }


async def one(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.post("/", json=send_request())
    elapsed = time.perf_counter() - started
    state = response.json()["result"]["status"]["state"]
    assert state == "completed", response.text
    return elapsed


async def wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (await client.get("/.well-known/agent-card.json")).status_code == 200:
                return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def measure(base_url: str, requests: int, seconds: float) -> None:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        await wait_ready(client)
        for _ in range(20):  # warm-up
            await one(client)
        latencies = sorted([await one(client) for _ in range(requests)])
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(
            f"blocking message/send, one-task tree: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"over {requests} requests   (target p50 <= 10 ms)"
        )

        done = 0
        stop = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                await one(client)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(16)))
        elapsed = time.perf_counter() - started
        print(
            f"concurrency 16 for {seconds:.0f} s: {done / elapsed:,.0f} requests/s "
            f"({done} requests)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    requests, seconds = (50, 2.0) if args.quick else (500, 10.0)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(Path(tmp) / "server.db"), str(port)]
        )
        try:
            asyncio.run(measure(f"http://127.0.0.1:{port}", requests, seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
