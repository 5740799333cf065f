"""Stable names for what the log stores, independent of where the classes live.

eventsourcing names a stored event by its class's module path; moving a class would
make every log written before unreadable. Here each class has a name that never
changes, and every name an earlier version wrote maps to the class that reads it now.
Never rename or remove an entry: add one (with an upcaster on the event) instead.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import register_topic

from aipartnerupflow.events.domain.fork import TaskForked, TreeForked
from aipartnerupflow.events.domain.tree import TaskTree

_PREFIX = "aipartnerupflow:"

#: The stable name of every class whose name is stored (events, snapshot, aggregate).
_NAMES: dict[type, str] = {
    TaskTree: "TaskTree",
    TaskTree.Snapshot: "TaskTree.Snapshot",
    TaskTree.Created: "TaskTree.Created",
    TaskTree.TaskCreated: "TaskTree.TaskCreated",
    TaskTree.TaskUpdated: "TaskTree.TaskUpdated",
    TaskTree.TaskStatusChanged: "TaskTree.TaskStatusChanged",
    TaskTree.TaskProgressed: "TaskTree.TaskProgressed",
    TaskTree.TaskCopied: "TaskTree.TaskCopied",
    TaskTree.HookFailed: "TaskTree.HookFailed",
    TaskTree.AttemptFailed: "TaskTree.AttemptFailed",
    TaskTree.TaskDeleted: "TaskTree.TaskDeleted",
    TreeForked: "TaskTree.TreeForked",
    TaskForked: "TaskTree.TaskForked",
}
STABLE: dict[type, str] = {cls: _PREFIX + name for cls, name in _NAMES.items()}

#: Module paths under which versions up to 0.10.0 stored the same classes.
_LEGACY_MODULES = ("aipartnerupflow.events.tree:",)

_BY_NAME: dict[str, type] = dict(
    [(name, cls) for cls, name in STABLE.items()]
    + [
        (module + name.removeprefix(_PREFIX), cls)
        for module in _LEGACY_MODULES
        for cls, name in STABLE.items()
    ]
)

# A Created event and a snapshot name the aggregate class inside their state, and
# eventsourcing resolves that name itself: make the stable names resolvable. They are
# this library's own namespace, so no other application's topics are affected.
for _cls, _name in STABLE.items():
    register_topic(_name, _cls)


def topic_of(cls: type) -> str:
    """The stable name of a stored class."""
    return STABLE[cls]


def class_of(topic: str) -> Any:
    """The class that reads what was stored under ``topic`` (a stable or a legacy name)."""
    try:
        return _BY_NAME[topic]
    except KeyError:
        raise LookupError(f"the log holds an event of unknown type {topic!r}") from None


def current_name(topic: str) -> str:
    """The stable name for ``topic`` (legacy names inside stored state are updated)."""
    return STABLE[class_of(topic)]
