"""The registry of running trees: one supervisor per tree in this process.

What the library stops at exit (its own actors, never the host's) is checked by a real
host process in tests/runtime/test_host_process.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pykka

from aipartnerupflow.actors import running


class HostActor(pykka.ThreadingActor):
    """An actor of the application that embeds the library."""

    def on_receive(self, message: Any) -> Any:
        return message


def test_a_tree_has_one_supervisor_at_a_time() -> None:
    first, second = HostActor.start(), HostActor.start()
    tree_id = uuid.uuid4()
    try:
        assert running.claim(tree_id, first)
        assert not running.claim(tree_id, second)
        assert running.supervisor_of(tree_id) == first
        assert tree_id in running.running_tree_ids()
        running.release(tree_id)
        assert running.supervisor_of(tree_id) is None
        assert running.claim(tree_id, second)
    finally:
        running.release(tree_id)
        first.stop()
        second.stop()
    assert tree_id not in running.running_tree_ids()


def test_only_this_librarys_actors_are_its_own() -> None:
    host = HostActor.start()
    try:
        assert host not in running.own_actors()
    finally:
        host.stop()
