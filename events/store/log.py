"""The event store: an eventsourcing Application over the SQLAlchemy recorders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Mapper,
    ProcessRecorder,
    StoredEvent,
)
from eventsourcing.utils import Environment
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from aipartnerupflow.errors import ConcurrencyError
from aipartnerupflow.events.domain.tree import TaskTree, apply_event
from aipartnerupflow.events.store.cache import TreeCache
from aipartnerupflow.events.store.leases import Lease
from aipartnerupflow.events.store.leases import check as check_lease
from aipartnerupflow.events.store.mapper import LogMapper
from aipartnerupflow.events.store.recorder import (
    Connections,
    EventRecorder,
    SnapshotRecorder,
)
from aipartnerupflow.events.store.snapshots import SnapshotWriter

T = TypeVar("T")

#: Events of one save, grouped by the tree they belong to.
Batch = list[tuple[TaskTree, Sequence[Any]]]
#: Called inside the save's transaction, after the events are inserted.
RecordListener = Callable[[Connection, Batch], None]


class _Factory(InfrastructureFactory):
    def __init__(self, env: Environment, connections: Connections) -> None:
        super().__init__(env)
        self.connections = connections

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose == "snapshots":
            return SnapshotRecorder(self.connections)
        return EventRecorder(self.connections)

    def application_recorder(self) -> ApplicationRecorder:
        return EventRecorder(self.connections)

    def tracking_recorder(self, tracking_recorder_class: Any = None) -> Any:
        raise NotImplementedError("the task log does not track upstream applications")

    def process_recorder(self) -> ProcessRecorder:
        raise NotImplementedError("the task log does not track upstream applications")


class Work:
    """One unit of work: the trees a command reads and changes, saved together."""

    def __init__(self, log: TaskLog) -> None:
        self._log = log
        self._trees: dict[UUID, TaskTree] = {}

    def tree(self, tree_id: UUID) -> TaskTree:
        """The live tree, loaded once per unit of work."""
        tree = self._trees.get(tree_id)
        if tree is None:
            tree = self._trees[tree_id] = self._log.load(tree_id)
        return tree

    def add(self, tree: TaskTree) -> TaskTree:
        """Track a tree planted by this unit of work."""
        self._trees[tree.id] = tree
        return tree

    @property
    def trees(self) -> Sequence[TaskTree]:
        return list(self._trees.values())


class TaskLog(Application):
    """Append-only log of task events, one stream per tree, with snapshots and a cache."""

    name = "aipartnerupflow"
    mapper: LogMapper
    recorder: EventRecorder
    snapshot_interval = 1000
    commit_attempts = 3

    def __init__(
        self, connections: Connections, *, cache_size: int = 256, cache_tasks: int = 50_000
    ) -> None:
        self.connections = connections
        self.listeners: list[RecordListener] = []
        # Versions of the latest snapshots of recently written trees, least recent first;
        # bounded so a process that writes trees for months does not grow with them.
        self._snapshot_versions: dict[UUID, int] = {}
        self._snapshot_versions_kept = max(4 * cache_size, 1024)
        super().__init__(
            env={"AGGREGATE_CACHE_MAXSIZE": str(cache_size), "IS_SNAPSHOTTING_ENABLED": "y"}
        )
        self.snapshot_writer = SnapshotWriter(self.mapper)
        # Bounded by tasks too: a few large trees would otherwise fill the host's memory.
        # A tree's kept snapshot rows go with it.
        self.tree_cache = TreeCache(
            max_tasks=cache_tasks, max_trees=cache_size, evicted=self.snapshot_writer.forget
        )
        self.repository.cache = self.tree_cache

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        return _Factory(env, self.connections)

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Only this library's settings: eventsourcing would also read the host's
        # os.environ, where an application's own settings (a cipher, a compressor, a
        # different recorder) would silently change this log's format.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return LogMapper()

    # ------------------------------------------------------------------ reading

    def load(self, tree_id: UUID) -> TaskTree:
        """The current tree, from the cache when it is there (caught up with the log)."""
        return self.repository.get(tree_id, deepcopy_from_cache=False)

    def load_at(self, tree_id: UUID, version: int) -> TaskTree | None:
        """The tree as it was at ``version`` of its stream (from the nearest snapshot).

        Folds the events directly: the library's generic projector checks a runtime
        protocol per event, which costs more than applying the event.
        """
        assert self.snapshots is not None
        snapshots = list(self.snapshots.get(tree_id, desc=True, limit=1, lte=version))
        tree: TaskTree | None = apply_event(snapshots[0], None) if snapshots else None
        after = None if tree is None else tree.version
        for event in self.events.get(tree_id, gt=after, lte=version):
            tree = apply_event(event, tree)
        return tree

    def pin(self, tree_id: UUID) -> None:
        """Keep the tree cached, whatever its size, until ``unpin``: a run is using it."""
        self.tree_cache.pin(tree_id)

    def unpin(self, tree_id: UUID) -> None:
        self.tree_cache.unpin(tree_id)

    def forget(self, tree_id: UUID) -> None:
        """Drop a tree from the cache (its in-memory state may be ahead of the log)."""
        with suppress(KeyError):
            self.tree_cache.get(tree_id, evict=True)

    # ------------------------------------------------------------------ writing

    def run(self, command: Callable[[Work], T], *, lease: Lease | None = None) -> T:
        """Run ``command`` and save what it changed, atomically with the projections.

        A command that raises records nothing. When another writer got to a tree first,
        the command runs again on the fresh state. With ``lease``, the save happens only
        while that lease is still the tree's current one (``LeaseLostError`` otherwise).
        """
        for attempt in range(1, self.commit_attempts + 1):
            work = Work(self)
            try:
                with self.connections.begin() as connection:
                    if lease is not None:
                        check_lease(connection, lease)
                    result = command(work)
                    self._save(connection, work.trees)
                return result
            except IntegrityError as exc:
                self._discard(work)
                if attempt == self.commit_attempts:
                    raise ConcurrencyError(
                        f"another writer kept changing the same tree: {exc}"
                    ) from exc
            except BaseException:
                self._discard(work)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _save(self, connection: Connection, trees: Sequence[TaskTree]) -> None:
        batch: Batch = [(tree, list(tree.pending_events)) for tree in trees if tree.pending_events]
        if not batch:
            return
        # Application.save() would also wrap each event in Recording and Notification
        # objects that nothing here reads; on the hot path they cost more than encoding.
        events = [event for _, pending in batch for event in pending]
        rows = list(map(self.mapper.to_row, events))
        try:
            for tree, pending in batch:
                # Not collect_events(): it pops the list from the front, one event at a
                # time, which is quadratic in the events of a save (100k-task trees).
                tree.pending_events.clear()
                self.snapshot_writer.saw(tree, pending)
                self._snapshot_if_due(tree)
            for listener in self.listeners:
                listener(connection, batch)
        except sa_exc.IntegrityError as exc:
            # Another writer changed the same rows first (its events would have clashed
            # with these at the insert below): run the command again on the fresh state.
            raise IntegrityError(str(exc.orig)) from exc
        # The log's insert comes last: on PostgreSQL it waits for the writers ahead to
        # commit, and everything before it runs meanwhile.
        self.recorder.insert_rows(rows)
        for tree, _ in batch:
            self.tree_cache.put(tree.id, tree)

    def _snapshot_if_due(self, tree: TaskTree) -> None:
        """Snapshot once the events since the last one outnumber a quarter of its tasks.

        A snapshot costs as much as the tree is large and saves replaying the events
        after it, so this keeps both the write and the load cost of a tree linear.
        """
        assert self.snapshots is not None
        last = self._snapshot_versions.pop(tree.id, None)
        if last is None:
            latest = self.snapshots.recorder.select_events(tree.id, desc=True, limit=1)
            last = latest[0].originator_version if latest else 0
        if tree.version - last >= max(self.snapshot_interval, len(tree.tasks) // 4):
            tree_id, version, _, _, topic, state = self.snapshot_writer.snapshot(tree)
            self.snapshots.recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=tree_id, originator_version=version, topic=topic, state=state
                    )
                ]
            )
            last = tree.version
        self._snapshot_versions[tree.id] = last
        if len(self._snapshot_versions) > self._snapshot_versions_kept:
            del self._snapshot_versions[next(iter(self._snapshot_versions))]

    def _discard(self, work: Work) -> None:
        for tree in work.trees:
            self.forget(tree.id)
            # A snapshot taken by the failed save was rolled back with it.
            self._snapshot_versions.pop(tree.id, None)
            self.snapshot_writer.forget(tree.id)
