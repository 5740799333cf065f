"""The trees this process is running, so a tree never gets two supervisors."""

from __future__ import annotations

import atexit
import threading
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


@atexit.register
def stop_supervisors() -> None:
    """Stop this process's tree supervisors (run at interpreter exit).

    Actor threads are not daemons: without this an exit would wait on them. Only this
    library's actors are stopped; the host's own pykka actors are not ours to stop.
    """
    with _lock:
        supervisors = list(_running.values())
    for supervisor in supervisors:
        supervisor.stop(block=True, timeout=5)
