"""Snapshots of live trees, encoded as they change.

A snapshot holds every task of its tree, so encoding one from scratch costs as much as
the tree is large, while between two snapshots of a running tree most of its tasks did
not change. The writer keeps each task's encoded row from the last snapshot and encodes
again only the rows of tasks that events changed since. The bytes are those a whole
encoding gives (a msgpack array is its header followed by its items), so the stored
format, and every reader of it, stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgpack

from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.mapper import EventRow, LogMapper

_EMPTY_ARRAY = msgpack.packb([])
_array_header = msgpack.Packer().pack_array_header


@dataclass
class _Rows:
    """The encoded rows of one tree's last snapshot, and the tasks changed since."""

    version: int
    encoded: dict[str, bytes] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)


class SnapshotWriter:
    """Encodes snapshots of trees, keeping the rows of recent ones for the next.

    Rows are kept for trees whose every event since their last snapshot was seen here
    (``saw``): a tree changed by another writer in between is encoded whole again. At
    most ``kept_rows`` rows are kept in all, those of the least recent trees go first.
    """

    def __init__(self, mapper: LogMapper, kept_rows: int = 250_000) -> None:
        self.mapper = mapper
        self.kept_rows = kept_rows
        self._trees: dict[UUID, _Rows] = {}  # least recently snapshotted first

    @property
    def kept_trees(self) -> list[UUID]:
        """The trees whose rows are kept, least recently snapshotted first."""
        return list(self._trees)

    def saw(self, tree: TaskTree, events: Sequence[Any]) -> None:
        """Note the tasks that ``events`` (the tree's next events, in order) changed."""
        rows = self._trees.get(tree.id)
        if rows is None or not events:
            return
        if events[0].originator_version != rows.version + 1:
            del self._trees[tree.id]  # events written elsewhere came in between
            return
        changed = rows.changed.add
        for event in events:
            if isinstance(event, TaskTree.TaskEvent):
                for task_id, _ in event.row_changes():
                    changed(task_id)
        rows.version = events[-1].originator_version

    def forget(self, tree_id: UUID) -> None:
        """Drop what is kept of a tree (its save was rolled back, or it left the cache)."""
        self._trees.pop(tree_id, None)

    def snapshot(self, tree: TaskTree) -> EventRow:
        """The tree's snapshot as a row of the snapshot table."""
        snapshot = TaskTree.Snapshot.take(tree, with_tasks=False)
        tree_id, version, task_id, timestamp, topic, state = self.mapper.to_row(snapshot)
        # The task list is the snapshot state's last value, and the state the stored
        # map's last value: the empty list closes the encoding, the rows take its place.
        assert state.endswith(_EMPTY_ARRAY), "a snapshot's tasks are no longer stored last"
        rows = self._trees.pop(tree.id, None)
        if rows is None or rows.version != tree.version:
            rows = _Rows(tree.version)
        encoded, changed, encode = rows.encoded, rows.changed, self.mapper.transcoder.encode
        for gone in changed.difference(tree.tasks):
            encoded.pop(gone, None)  # deleted since
        parts = []
        for tid, task in tree.tasks.items():
            row = None if tid in changed else encoded.get(tid)
            if row is None:
                row = encoded[tid] = encode(TaskTree.Snapshot.row(task))
            parts.append(row)
        rows.changed = set()
        self._keep(tree.id, rows)
        stored = state[: -len(_EMPTY_ARRAY)] + _array_header(len(parts)) + b"".join(parts)
        return tree_id, version, task_id, timestamp, topic, stored

    def _keep(self, tree_id: UUID, rows: _Rows) -> None:
        self._trees[tree_id] = rows
        total = sum(len(kept.encoded) for kept in self._trees.values())
        while total > self.kept_rows and self._trees:
            oldest = next(iter(self._trees))
            total -= len(self._trees.pop(oldest).encoded)
