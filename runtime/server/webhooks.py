"""Outgoing callbacks (webhooks and A2A push notifications): allow-listed, retried."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.webhooks")

LOOPBACK_HOSTS = ("localhost",)


class CallbackRefused(ValueError):
    """The callback URL is not allowed."""


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
            await asyncio.sleep(0.1 * 2**attempt)
    return False
