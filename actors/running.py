"""The trees this process is running, so a tree never gets two supervisors."""

from __future__ import annotations

import atexit
import threading
from contextlib import suppress
from typing import Any
from uuid import UUID

import pykka

_running: dict[UUID, pykka.ActorRef[pykka.Actor]] = {}
_lock = threading.Lock()


def claim(tree_id: UUID, supervisor: pykka.ActorRef[Any]) -> bool:
    """Register the tree's supervisor; False when the tree already has one."""
    with _lock:
        if tree_id in _running:
            return False
        _running[tree_id] = supervisor
        return True


def release(tree_id: UUID) -> None:
    with _lock:
        _running.pop(tree_id, None)


def supervisor_of(tree_id: UUID) -> pykka.ActorRef[pykka.Actor] | None:
    with _lock:
        return _running.get(tree_id)


def running_tree_ids() -> list[UUID]:
    with _lock:
        return list(_running)


def own_actors() -> list[pykka.ActorRef[Any]]:
    """The live actors of this library; the host's own pykka actors are not among them."""
    package = __name__.partition(".")[0] + "."
    refs = pykka.ActorRegistry.get_all()
    return [ref for ref in refs if ref.actor_class.__module__.startswith(package)]


@atexit.register
def _stop_own_actors() -> None:
    # Actor threads are daemons, so an exit never waits on them; stopping them first lets
    # each finish the message in hand. Only our own: the registry-wide stop would end the
    # host's actors too.
    stopping = [ref.stop(block=False) for ref in own_actors()]
    with suppress(pykka.Timeout):
        pykka.get_all(stopping, timeout=5)
