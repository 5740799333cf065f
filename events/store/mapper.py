"""Domain events to stored rows and back, under stable topic names.

The format is fixed by this library: msgpack, no compression, no encryption, whatever
eventsourcing settings the host process has in its environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import resolve_topic

from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.codec import MsgpackTranscoder
from aipartnerupflow.events.store.topics import class_of, current_name, topic_of

#: Keys of a stored state that hold a topic of their own, by the class that has them.
_NESTED_TOPICS = {TaskTree.Created: "originator_topic", TaskTree.Snapshot: "topic"}


@dataclass(frozen=True)
class LoggedEvent(StoredEvent):
    """A stored event with the columns the audit queries need."""

    task_id: str | None = None
    timestamp: datetime | None = None


#: One row of the log less its position: tree id, version, task id, time, topic, state.
EventRow = tuple[UUID, int, str | None, datetime, str, bytes]


class LogMapper(Mapper[UUID]):
    """Encodes events with msgpack under their stable names; adds task id and time."""

    def __init__(self) -> None:
        super().__init__(MsgpackTranscoder())

    def to_stored_event(self, domain_event: Any) -> LoggedEvent:
        tree_id, version, task_id, timestamp, topic, state = self.to_row(domain_event)
        return LoggedEvent(
            originator_id=tree_id,
            originator_version=version,
            topic=topic,
            state=state,
            task_id=task_id,
            timestamp=timestamp,
        )

    def to_row(self, domain_event: Any) -> EventRow:
        """The event as a row of the log, less its position (what a save writes: no
        ``StoredEvent`` in between)."""
        cls = type(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        nested = _NESTED_TOPICS.get(cls)
        if nested is not None:  # eventsourcing filled in the class's module path
            state[nested] = topic_of(resolve_topic(state[nested]))
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return (
            originator_id,
            originator_version,
            getattr(domain_event, "task_id", None),
            domain_event.timestamp,
            topic_of(cls),
            self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.decode(
            stored_event.originator_id,
            stored_event.originator_version,
            stored_event.topic,
            stored_event.state,
        )

    def decode(self, originator_id: UUID | str, version: int, topic: str, data: bytes) -> Any:
        """The domain event of one row of the log; what ``to_domain_event`` does, without
        wrapping the row in a ``StoredEvent`` first (replays read rows by the hundred
        thousand)."""
        cls = class_of(topic)
        try:
            state: dict[str, Any] = self.transcoder.decode(data)
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot decode event {version} of tree {originator_id} ({topic}): {exc}"
            ) from exc
        nested = _NESTED_TOPICS.get(cls)
        if nested is not None:
            state[nested] = current_name(state[nested])
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        )
        state["originator_version"] = version
        class_version = state.pop("class_version", 1)
        while class_version < getattr(cls, "class_version", 1):
            getattr(cls, f"upcast_v{class_version}_v{class_version + 1}")(state)
            class_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event
