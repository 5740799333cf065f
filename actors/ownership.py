"""This process's leases on running trees: taken, renewed in the background, watched.

One ``Ownership`` per database session. While it holds leases, a daemon thread renews
them (every third of their time to live) and picks up the requests other processes leave
for those trees (a cancel, an input), handing each to the tree's watcher. A lease that
could not be renewed is reported to its watcher, which must stop the tree's work: its
next commit would be refused anyway (see ``events.store.leases``).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from aipartnerupflow.events.store import leases
from aipartnerupflow.events.store.database import LogDatabase
from aipartnerupflow.events.store.leases import Lease
from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.ownership")

#: Seconds a lease lives without renewal: a crashed owner's trees wait this long.
DEFAULT_TTL = 10.0
#: Seconds between two looks for requests addressed to this process's trees.
DEFAULT_POLL = 0.2

Reply = Callable[[Mapping[str, Any]], None]


@dataclass
class Watcher:
    """What the owner of one tree wants to hear about it."""

    lease: Lease
    on_lost: Callable[[], None]
    on_request: Callable[[str, dict[str, Any], Reply], None]


def new_owner_id() -> str:
    """host:pid:random — unique per process start, readable in the lease table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Ownership:
    """Takes, renews and releases this process's tree leases on one database."""

    def __init__(
        self, db: LogDatabase, *, ttl: float = DEFAULT_TTL, poll: float = DEFAULT_POLL
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.poll = poll
        self.owner = new_owner_id()
        self._watchers: dict[UUID, Watcher] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ leases

    def acquire(self, tree_id: UUID, root_task_id: str) -> Lease | None:
        """The tree's lease for this process, or None while another live owner has it."""
        return self.db.call(
            self._in_transaction, leases.acquire, tree_id, root_task_id, self.owner, self.ttl
        )

    def claim(self, limit: int, skip: Collection[UUID] = ()) -> list[Lease]:
        """Take up to ``limit`` trees that wait for an owner (queued, or orphaned by an
        owner whose lease expired), leaving out ``skip``; one transaction, so two claimers
        never take the same tree."""
        return self.db.call(self._in_transaction, self._claim, limit, set(skip))

    def _claim(self, connection: Connection, limit: int, skip: set[UUID]) -> list[Lease]:
        taken: list[Lease] = []
        for tree_id, root_task_id in leases.claimable(connection, limit + len(skip)):
            if len(taken) == limit:
                break
            if tree_id in skip:
                continue
            lease = leases.acquire(connection, tree_id, root_task_id, self.owner, self.ttl)
            if lease is not None:
                taken.append(lease)
        return taken

    def holder(self, tree_id: UUID) -> str | None:
        """The live owner of the tree (maybe this process), or None."""
        return self.db.call(self._in_transaction, leases.holder, tree_id)

    def state_of(self, tree_id: UUID) -> str | None:
        """queued, running or idle; None for a tree that never had a lease."""
        return self.db.call(self._in_transaction, leases.state_of, tree_id)

    def enqueue(self, tree_id: UUID, root_task_id: str) -> None:
        """Leave the tree for any process to claim and run."""
        self.db.call(self._in_transaction, leases.enqueue, tree_id, root_task_id)

    def ask(self, tree_id: UUID, kind: str, body: dict[str, Any]) -> int:
        """Leave a request for the tree's owner; see ``answer``."""
        return self.db.call(self._in_transaction, leases.post_request, tree_id, kind, body)

    def answer(self, request_id: int) -> dict[str, Any] | None:
        """The owner's answer to request ``request_id``, or None while it has none."""
        return self.db.call(self._in_transaction, leases.take_answer, request_id)

    def release(self, lease: Lease, state: str = leases.IDLE) -> None:
        """Stop watching the tree and give its lease up (``queued`` to have it resumed)."""
        self.unwatch(lease.tree_id)
        self.db.call(self._in_transaction, leases.release, lease, state)

    def watch(self, watcher: Watcher) -> None:
        """Renew ``watcher.lease`` and pass on its tree's requests until ``unwatch``."""
        with self._lock:
            self._watchers[watcher.lease.tree_id] = watcher
            if self._thread is None or not self._thread.is_alive():
                self._wake.clear()
                self._thread = threading.Thread(
                    target=self._keep, name="aipartnerupflow-leases", daemon=True
                )
                self._thread.start()

    def unwatch(self, tree_id: UUID) -> None:
        with self._lock:
            self._watchers.pop(tree_id, None)
            if not self._watchers:
                self._wake.set()

    def held(self) -> list[Lease]:
        with self._lock:
            return [w.lease for w in self._watchers.values()]

    # ----------------------------------------------------------- background

    def _in_transaction(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.db.connections.begin() as connection:
            return fn(connection, *args)

    def _keep(self) -> None:
        renew_every = self.ttl / 3
        since_renewal = 0.0
        while not self._wake.wait(self.poll):
            since_renewal += self.poll
            try:
                if since_renewal >= renew_every:
                    since_renewal = 0.0
                    self._renew()
                self._deliver_requests()
            except Exception as exc:  # a database hiccup: try again next tick
                log.warning("lease_upkeep_failed", error=repr(exc))
            with self._lock:
                if not self._watchers:
                    self._thread = None
                    return

    def _renew(self) -> None:
        lost = self.db.call(self._in_transaction, leases.renew, self.held(), self.ttl)
        for lease in lost:
            with self._lock:
                watcher = self._watchers.pop(lease.tree_id, None)
            if watcher is not None:
                log.warning("lease_lost", tree_id=str(lease.tree_id), token=lease.token)
                watcher.on_lost()

    def _deliver_requests(self) -> None:
        with self._lock:
            tree_ids = list(self._watchers)
        if not tree_ids:
            return
        pending = self.db.call(self._in_transaction, leases.open_requests, tree_ids)
        for request_id, tree_id, kind, body in pending:
            with self._lock:
                watcher = self._watchers.get(tree_id)
            if watcher is None:
                continue
            # Mark it taken at once, so the next tick does not deliver it twice.
            self.db.call(self._in_transaction, leases.take_request, request_id)
            watcher.on_request(kind, body, self._replier(request_id))

    def _replier(self, request_id: int) -> Reply:
        def reply(answer: Mapping[str, Any]) -> None:
            self.db.call(self._in_transaction, leases.answer_request, request_id, answer)

        return reply
