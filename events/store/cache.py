"""The log's cache of live trees, bounded by the tasks it holds rather than by trees.

A count of trees bounds nothing when trees can be large: 256 trees of 10k tasks hold
millions of task states. Here the least recently used trees go once the tasks of all
cached trees pass a bound. Two kinds of tree stay whatever their size: trees pinned by a
run in progress (evicting one would reload it at every commit of its run), and the tree
used last (a host working on one tree larger than the bound would reload it at every
call otherwise).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache

from aipartnerupflow.events.domain.tree import TaskTree


class TreeCache(Cache[UUID, Any]):
    """Least recently used trees: at most ``max_trees`` of them, and at most ``max_tasks``
    tasks in the trees that are not pinned, beyond the one used last. Thread-safe.

    Trees leave only as others are put (on the thread that writes), and ``evicted`` hears
    of each one that does, there.
    """

    def __init__(
        self,
        *,
        max_tasks: int,
        max_trees: int,
        evicted: Callable[[UUID], None] = lambda tree_id: None,
    ) -> None:
        super().__init__()  # self.cache: trees by id, least recently used first
        self.max_tasks = max_tasks
        self.max_trees = max_trees
        self.evicted = evicted
        self._weights: dict[UUID, int] = {}
        self._tasks = 0
        self._pins: Counter[UUID] = Counter()
        self._lock = threading.Lock()

    @property
    def tasks(self) -> int:
        """Tasks of the cached trees, all together."""
        return self._tasks

    def get(self, key: UUID, *, evict: bool = False) -> TaskTree:
        with self._lock:
            tree: TaskTree = self.cache.pop(key)  # KeyError when absent, as the base's
            if evict:
                self._tasks -= self._weights.pop(key)
            else:
                self.cache[key] = tree
            return tree

    def put(self, key: UUID, value: Any) -> None:
        if value is None:  # the base class's contract: nothing to cache
            return
        with self._lock:
            if key in self.cache:
                del self.cache[key]
                self._tasks -= self._weights.pop(key)
            self.cache[key] = value
            self._weights[key] = weight = len(value.tasks)
            self._tasks += weight
            gone = self._shrink()
        for tree_id in gone:
            self.evicted(tree_id)

    def pin(self, key: UUID) -> None:
        """Keep the tree cached until as many ``unpin`` calls: a run is using it."""
        with self._lock:
            self._pins[key] += 1

    def unpin(self, key: UUID) -> None:
        with self._lock:
            self._pins[key] -= 1
            if self._pins[key] <= 0:
                del self._pins[key]

    @property
    def pinned(self) -> frozenset[UUID]:
        with self._lock:
            return frozenset(self._pins)

    def _shrink(self) -> list[UUID]:
        gone: list[UUID] = []
        if self._tasks <= self.max_tasks and len(self.cache) <= self.max_trees:
            return gone  # the usual case on every save: nothing to weigh
        # The bound is on trees no run is using: a large running tree pushes nothing out.
        unpinned = self._tasks - sum(self._weights.get(key, 0) for key in self._pins)
        if unpinned <= self.max_tasks and len(self.cache) <= self.max_trees:
            return gone
        newest = next(reversed(self.cache))
        for key in list(self.cache):  # least recently used first
            if unpinned <= self.max_tasks and len(self.cache) <= self.max_trees:
                break
            if key in self._pins or key == newest:
                continue
            del self.cache[key]
            weight = self._weights.pop(key)
            self._tasks -= weight
            unpinned -= weight
            gone.append(key)
        return gone
