"""How long a ``tasks.execute`` reply takes when its webhook is slow.

    python bench/webhooks.py            # 5 runs
    python bench/webhooks.py --runs 3

A two-task tree runs through ``POST /tasks`` (``tasks.execute``) on a server in its own
process, once without a webhook and once with a webhook that never answers in time
(timeout 1 s, 1 retry). Prints the median reply time of each. The run's reply should not
wait for its webhook deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


class Slow(BaseHTTPRequestHandler):
    """Answers every request after 3 s: later than the webhook's 1 s timeout."""

    def do_POST(self) -> None:
        time.sleep(3)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def execute(webhook: str | None) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    params: dict[str, Any] = {
        "tasks": [
            {"id": f"root-{tag}", "name": "aggregate_results_executor", "dependencies": [tag]},
            {"id": tag, "name": "aggregate_results_executor", "parent_id": f"root-{tag}"},
        ]
    }
    if webhook is not None:
        params["webhook_config"] = {"url": webhook, "timeout": 1, "max_retries": 1}
    return {"jsonrpc": "2.0", "id": 1, "method": "tasks.execute", "params": params}


async def timed(client: httpx.AsyncClient, webhook: str | None) -> float:
    started = time.perf_counter()
    response = await client.post("/tasks", json=execute(webhook))
    elapsed = time.perf_counter() - started
    assert response.json()["result"]["status"] == "completed", response.text
    return elapsed


async def measure(base: str, webhook: str, runs: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        for label, url in (("no webhook", None), ("slow webhook", webhook)):
            figures = [await timed(client, url) for _ in range(runs)]
            print(f"{label:>13}: median {statistics.median(figures):.3f} s over {runs} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(Path(folder) / "bench.db"), str(port)]
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.post(f"{base}/system", json={"jsonrpc": "2.0", "method": "x"})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
            asyncio.run(measure(base, webhook, args.runs))
        finally:
            server.terminate()
            server.wait(timeout=30)
            sink.shutdown()


if __name__ == "__main__":
    main()
