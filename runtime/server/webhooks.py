"""Outgoing callbacks (webhooks and A2A push notifications): allow-listed, retried, and for
webhooks delivered in the background, so a slow receiver never holds up a run."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from aipartnerupflow.errors import CallbackRefused
from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.webhooks")

LOOPBACK_HOSTS = ("localhost",)
#: Deliveries waiting per subscriber; more are dropped (and logged) rather than hoarded.
QUEUE_CAPACITY = 1000
BACKOFF_BASE = 0.1
BACKOFF_CAP = 30.0
# Our own generator: jitter must not touch the host's global random state.
_jitter = random.Random()


@dataclass(frozen=True)
class CallbackPolicy:
    """Which hosts callbacks may reach: loopback only unless hosts are listed."""

    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, hosts: Iterable[str] | None) -> CallbackPolicy:
        return cls(frozenset(h.lower() for h in hosts or ()))

    def check(self, url: str) -> str:
        """Return ``url`` if allowed, else raise CallbackRefused saying why."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CallbackRefused(f"callback url {url!r} must be an http(s) URL")
        host = parts.hostname.lower()
        if host in self.allowed_hosts or host in LOOPBACK_HOSTS or _is_loopback(host):
            return url
        raise CallbackRefused(
            f"callback host {host!r} is not allowed (loopback only; allow more hosts with "
            "--allow-callback-host)"
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Callback:
    """Where and how to POST (or PUT) status changes."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    timeout: float = 5.0
    max_retries: int = 3

    @classmethod
    def from_config(cls, config: Any, policy: CallbackPolicy) -> Callback:
        """Validate a ``webhook_config`` object of the task API."""
        if not isinstance(config, dict) or not isinstance(config.get("url"), str):
            raise CallbackRefused("webhook_config needs a 'url' string")
        headers = config.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise CallbackRefused("webhook_config.headers must map strings to strings")
        method = str(config.get("method", "POST")).upper()
        if method not in ("POST", "PUT"):
            raise CallbackRefused("webhook_config.method must be POST or PUT")
        return cls(
            url=policy.check(config["url"]),
            headers=headers,
            method=method,
            timeout=float(config.get("timeout", 5.0)),
            max_retries=int(config.get("max_retries", 3)),
        )


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0 first): exponential, capped, with jitter
    so that many failing deliveries do not retry in step."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * _jitter.uniform(0.5, 1.0)


async def deliver(client: httpx.AsyncClient, callback: Callback, payload: Any) -> bool:
    """Send ``payload`` as JSON, retrying with exponential backoff; True when delivered."""
    for attempt in range(callback.max_retries + 1):
        try:
            response = await client.request(
                callback.method,
                callback.url,
                json=payload,
                headers=callback.headers,
                timeout=callback.timeout,
            )
            if response.status_code < 500:
                return response.is_success
        except httpx.HTTPError as exc:
            log.warning("callback_failed", url=callback.url, attempt=attempt + 1, error=repr(exc))
        if attempt < callback.max_retries:
            await asyncio.sleep(backoff(attempt))
    return False


class _Subscriber:
    """One receiver's deliveries: a bounded queue drained in order by one background task,
    which ends when the queue is empty (the next delivery starts another)."""

    def __init__(self, client: httpx.AsyncClient, key: tuple[str, str], owner: Deliveries) -> None:
        self.client = client
        self.key = key
        self.owner = owner
        self.queue: asyncio.Queue[tuple[Callback, Any]] = asyncio.Queue(owner.capacity)
        self.worker: asyncio.Task[None] | None = None

    def offer(self, callback: Callback, payload: Any) -> bool:
        try:
            self.queue.put_nowait((callback, payload))
        except asyncio.QueueFull:
            log.warning("webhook_dropped", url=callback.url, reason="queue full")
            return False
        if self.worker is None:
            self.worker = asyncio.create_task(self._drain())
        return True

    async def _drain(self) -> None:
        try:
            while not self.queue.empty():
                callback, payload = self.queue.get_nowait()
                try:
                    delivered = await deliver(self.client, callback, payload)
                except Exception as exc:  # a closed client at shutdown, a bad payload
                    log.warning("webhook_failed", url=callback.url, error=repr(exc))
                    delivered = False
                if not delivered:
                    log.warning(
                        "webhook_undelivered",
                        url=callback.url,
                        attempts=callback.max_retries + 1,
                        event_type=payload.get("type") if isinstance(payload, dict) else None,
                        task_id=payload.get("task_id") if isinstance(payload, dict) else None,
                    )
        finally:
            # No await between the empty queue and here: no delivery can slip in between.
            self.worker = None
            self.owner.subscribers.pop(self.key, None)


class Deliveries:
    """Webhook deliveries in the background: per subscriber (method and URL) in the order
    sent, at most ``capacity`` waiting, each retried with backoff and jitter."""

    def __init__(self, client: httpx.AsyncClient, capacity: int = QUEUE_CAPACITY) -> None:
        self.client = client
        self.capacity = capacity
        self.subscribers: dict[tuple[str, str], _Subscriber] = {}

    def send(self, callback: Callback, payload: Any) -> bool:
        """Queue ``payload`` for ``callback`` and return at once; False when it was dropped
        because the subscriber's queue is full. Needs a running event loop."""
        key = (callback.method, callback.url)
        subscriber = self.subscribers.get(key)
        if subscriber is None:
            subscriber = self.subscribers[key] = _Subscriber(self.client, key, self)
        return subscriber.offer(callback, payload)

    async def drain(self) -> None:
        """Wait until every queued delivery has been tried (for tests and shutdown)."""
        while self.subscribers:
            workers = [s.worker for s in self.subscribers.values() if s.worker is not None]
            await asyncio.gather(*workers, return_exceptions=True)
