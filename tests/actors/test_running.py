"""The registry of running trees, and what this library stops when the process exits."""

from __future__ import annotations

import uuid
from typing import Any

import pykka

from aipartnerupflow.actors import running


class HostActor(pykka.ThreadingActor):
    """An actor of the application that embeds the library."""

    def on_receive(self, message: Any) -> Any:
        return message


def test_exit_stops_supervisors_and_leaves_the_hosts_actors_alone() -> None:
    host = HostActor.start()
    ours = HostActor.start()
    tree_id = uuid.uuid4()
    assert running.claim(tree_id, ours)
    assert not running.claim(tree_id, ours)
    try:
        running.stop_supervisors()
        assert not ours.is_alive()
        assert host.is_alive() and host.ask("still here") == "still here"
    finally:
        running.release(tree_id)
        host.stop()
    assert tree_id not in running.running_tree_ids()
