"""The task tree aggregate: one event stream per tree.

A tree is the consistency boundary of the runtime: dependencies and parent links never
cross it, and one supervisor writes a running tree's events. Each command method
validates against the current state first and triggers events only when the whole
command is valid, so a rejected command leaves nothing behind. The ``apply`` methods of
the events are the single fold that the projections, time travel and the audit history
share: the state of a task is a plain dict whose keys are the projection's columns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import MISSING, fields, make_dataclass
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any, ClassVar, cast

from eventsourcing.domain import Aggregate

from aipartnerupflow.errors import (
    DependencyError,
    ImmutableFieldError,
    TaskNotFoundError,
    TaskStateError,
    TaskValidationError,
    UpdateRejectedError,
)
from aipartnerupflow.events.domain.limits import MAX_KEY_CHARS
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.validation import (
    IMMUTABLE_FIELDS,
    OUTCOME_FIELDS,
    TASK_COLUMNS,
    check_field,
    check_json,
    check_outcome,
    check_progress,
    check_status,
    check_task_size,
    check_time,
    clean_message,
    clean_traceback,
    find_cycle,
)

Cause = dict[str, Any]
TaskState = dict[str, Any]
#: ``(task id, changed columns)`` pairs; ``None`` stands for the whole row.
RowChanges = tuple[tuple[str, frozenset[str] | None], ...]


_HAS_CHILDREN = frozenset({"has_children"})
_STATUS_COLUMNS = frozenset(
    {
        "status",
        "result",
        "error",
        "error_type",
        "progress",
        "started_at",
        "completed_at",
        "updated_at",
        "attempt",
    }
)
_PROGRESS_COLUMNS = frozenset({"progress", "updated_at"})
_COPY_COLUMNS = frozenset({"has_copy", "updated_at"})


@cache
def column_values(columns: tuple[str, ...]) -> Callable[[TaskState], tuple[Any, ...]]:
    """A getter of ``columns``' values from a task state, as a tuple (one C call, where a
    loop over the names costs three times as much on the per-task paths)."""
    if len(columns) == 1:
        (only,) = columns
        return lambda task: (task[only],)
    if not columns:
        return lambda task: ()
    return cast(Callable[[TaskState], tuple[Any, ...]], itemgetter(*columns))


_task_row = column_values(TASK_COLUMNS)


@cache
def _event_shape(
    event_class: type,
) -> tuple[dict[str, Any], frozenset[str], dict[str, Callable[[], Any]]]:
    """An event class's fields in order with their defaults (None for those without),
    the fields without a default, and the default factories."""
    template: dict[str, Any] = {}
    required: set[str] = set()
    factories: dict[str, Callable[[], Any]] = {}
    for f in fields(event_class):
        template[f.name] = None if f.default is MISSING else f.default
        if f.default_factory is not MISSING:
            factories[f.name] = f.default_factory
        elif f.default is MISSING:
            required.add(f.name)
    return template, frozenset(required), factories


#: Lends its instances' ``__dict__`` as task states. Dicts that one class fills in one
#: order share a single table of keys (CPython's key-sharing dictionaries): a task's 22
#: columns then take 300 bytes rather than the 832 of a plain dict, for every task of
#: every cached tree and every model handed out. Copy a state with ``.copy()``, which
#: keeps the shared keys (``dict(state)`` and ``{**state}`` do not).
_Columns = make_dataclass("_Columns", TASK_COLUMNS, eq=False, repr=False)


def task_state(*values: Any) -> TaskState:
    """A task state from its values in ``TASK_COLUMNS`` order."""
    return cast(TaskState, _Columns(*values).__dict__)


def _new_state(task_id: str, fields: Mapping[str, Any], at: datetime) -> TaskState:
    get = fields.get
    return cast(
        TaskState,
        _Columns(
            id=task_id,
            parent_id=get("parent_id"),
            user_id=get("user_id"),
            name=fields["name"],
            status=TaskStatus.PENDING,
            priority=get("priority", 1),
            dependencies=get("dependencies") or [],
            inputs=get("inputs") or {},
            params=get("params") or {},
            result=None,
            error=None,
            error_type=None,
            schemas=get("schemas") or {},
            progress=0.0,
            has_children=False,
            created_at=at,
            started_at=None,
            updated_at=at,
            completed_at=None,
            original_task_id=get("original_task_id"),
            has_copy=False,
            attempt=0,
        ).__dict__,
    )


class TaskTree(Aggregate):
    """A tree of tasks and everything that ever happened to them."""

    def __init__(self, root_task_id: str, cause: Cause) -> None:
        self.root_task_id = root_task_id
        self.tasks: dict[str, TaskState] = {}
        self.children: dict[str, list[str]] = {}

    # eventsourcing declares Snapshot through a metaclass mypy cannot follow.
    class Snapshot(Aggregate.Snapshot):  # type: ignore[misc,valid-type]
        """The tree's state with its tasks as rows in ``TASK_COLUMNS`` order: a third of
        the size of keyed dicts, and twice as fast to load. ``children`` is derived."""

        @classmethod
        def take(cls, aggregate: Any, *, with_tasks: bool = True) -> Any:
            """The snapshot of ``aggregate``; ``with_tasks=False`` leaves its task list
            empty, for a writer that encodes the rows itself (``tasks`` is the state's
            last key)."""
            snapshot = super().take(aggregate)
            state = snapshot.state
            tasks = state.pop("tasks")
            del state["children"]
            state["tasks"] = list(map(_task_row, tasks.values())) if with_tasks else []
            return snapshot

        @staticmethod
        def row(task: TaskState) -> tuple[Any, ...]:
            """A task's row in a snapshot: its values in ``TASK_COLUMNS`` order. Tuples
            are packed as arrays, so the stored form is the same as lists'."""
            return _task_row(task)

        def mutate(self, _: None) -> Any:
            tree = super().mutate(None)
            tree.tasks = {row[0]: task_state(*row) for row in tree.tasks}
            # Tasks keep creation order, so children lists come out in creation order too.
            tree.children = {task_id: [] for task_id in tree.tasks}
            for task_id, task in tree.tasks.items():
                if task["parent_id"] is not None:
                    tree.children[task["parent_id"]].append(task_id)
            return tree

    # ------------------------------------------------------------------ events

    class Created(Aggregate.Created):
        """The tree's first event; its tasks follow as TaskCreated events."""

        root_task_id: str
        cause: Cause
        kind: ClassVar[str] = "tree_created"

        @property
        def task_id(self) -> str:
            return self.root_task_id

    class TaskEvent(Aggregate.Event):
        """Base of every task event: which task, and who or what caused it."""

        task_id: str
        cause: Cause
        kind: ClassVar[str] = "event"

        def row_changes(self) -> RowChanges:
            """``(task id, columns)`` of every task whose state this event changes;
            ``None`` means the whole row (it appears, or disappears)."""
            return ((self.task_id, None),)

    class TaskCreated(TaskEvent):
        fields: dict[str, Any]
        kind = "created"

        def apply(self, tree: TaskTree) -> None:
            tree.tasks[self.task_id] = _new_state(self.task_id, self.fields, self.timestamp)
            tree.children[self.task_id] = []
            parent_id = self.fields.get("parent_id")
            if parent_id is not None:
                tree.children[parent_id].append(self.task_id)
                tree.tasks[parent_id]["has_children"] = True

        def row_changes(self) -> RowChanges:
            parent_id = self.fields.get("parent_id")
            own = (self.task_id, None)
            return (own,) if parent_id is None else (own, (parent_id, _HAS_CHILDREN))

    class TaskUpdated(TaskEvent):
        changes: dict[str, Any]
        kind = "updated"

        def apply(self, tree: TaskTree) -> None:
            state = tree.tasks[self.task_id]
            state.update(self.changes)
            state["updated_at"] = self.timestamp

        def row_changes(self) -> RowChanges:
            return ((self.task_id, frozenset({*self.changes, "updated_at"})),)

    class TaskStatusChanged(TaskEvent):
        status: str
        result: Any = None
        error: str | None = None
        error_type: str | None = None
        progress: float | None = None
        attempt: int | None = None
        started_at: datetime | None = None
        completed_at: datetime | None = None
        #: Where a failed executor raised; kept in the log only (history shows it), not
        #: in the task's row. Events recorded before it existed read it as None.
        traceback: str | None = None

        @property
        def kind(self) -> str:  # type: ignore[override]
            return _STATUS_EVENT_KINDS[self.status]

        def row_changes(self) -> RowChanges:
            return ((self.task_id, _STATUS_COLUMNS),)

        def apply(self, tree: TaskTree) -> None:
            state = tree.tasks[self.task_id]
            status = self.status
            state["status"] = status
            state["updated_at"] = self.timestamp
            if status == TaskStatus.WAITING:
                # The attempt ended asking for input: its result is the request (prompt,
                # schema, when asked); the task is not finished, so no completed_at.
                state.update(result=self.result, error=None, error_type=None, completed_at=None)
                if self.progress is not None:
                    state["progress"] = self.progress
                return
            if status in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
                # A task that starts (again) or is re-queued forgets its last outcome.
                state.update(result=None, error=None, error_type=None, completed_at=None)
                state["progress"] = self.progress if self.progress is not None else 0.0
                if status == TaskStatus.IN_PROGRESS:
                    state["started_at"] = self.started_at or self.timestamp
                    state["attempt"] = self.attempt or state["attempt"] + 1
                else:
                    state["started_at"] = None
                return
            state.update(
                result=self.result,
                error=self.error,
                error_type=self.error_type,
                completed_at=self.completed_at or self.timestamp,
            )
            if status == TaskStatus.COMPLETED:
                state["progress"] = 1.0
            elif self.progress is not None:
                state["progress"] = self.progress

    class TaskProgressed(TaskEvent):
        progress: float
        kind = "progress"

        def apply(self, tree: TaskTree) -> None:
            state = tree.tasks[self.task_id]
            state["progress"] = self.progress
            state["updated_at"] = self.timestamp

        def row_changes(self) -> RowChanges:
            return ((self.task_id, _PROGRESS_COLUMNS),)

    class TaskCopied(TaskEvent):
        copy_id: str
        copy_tree_id: str
        kind = "copied"

        def apply(self, tree: TaskTree) -> None:
            state = tree.tasks[self.task_id]
            state["has_copy"] = True
            state["updated_at"] = self.timestamp

        def row_changes(self) -> RowChanges:
            return ((self.task_id, _COPY_COLUMNS),)

    class HookFailed(TaskEvent):
        """A hook raised while the task ran; recorded for the audit, the task goes on."""

        hook: str
        error: str
        kind = "hook_failed"

        def row_changes(self) -> RowChanges:
            return ()

    class AttemptFailed(TaskEvent):
        """An attempt failed and the task runs again (it has retries left): the failure
        is recorded for the audit; the task stays in progress."""

        attempt: int
        error: str | None
        error_type: str | None
        traceback: str | None
        kind = "attempt_failed"

        def row_changes(self) -> RowChanges:
            return ()

    class TaskDeleted(TaskEvent):
        parent_id: str | None
        kind = "deleted"

        def apply(self, tree: TaskTree) -> None:
            del tree.tasks[self.task_id]
            del tree.children[self.task_id]
            if self.parent_id is not None:
                siblings = tree.children[self.parent_id]
                siblings.remove(self.task_id)
                tree.tasks[self.parent_id]["has_children"] = bool(siblings)

        def row_changes(self) -> RowChanges:
            own = (self.task_id, None)
            return (own,) if self.parent_id is None else (own, (self.parent_id, _HAS_CHILDREN))

    # ---------------------------------------------------------------- commands

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Make the tree's next event and apply it (what eventsourcing's own does).

        Trees make their events by the ten thousand per run: the state goes straight
        into the event, as a load does, rather than through the frozen dataclass's
        ``__init__`` and a check of the version just computed here.
        """
        template, required, factories = _event_shape(event_class)
        version = self.version + 1
        kwargs["originator_id"] = self.id
        kwargs["originator_version"] = version
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        if not (required <= kwargs.keys() <= template.keys()):
            wrong = sorted((required - kwargs.keys()) | (kwargs.keys() - template.keys()))
            raise TypeError(f"{event_class.__qualname__}: missing or unknown fields {wrong}")
        state = template.copy()  # the fields in their declared order, as __init__ sets them
        state.update(kwargs)
        for name, factory in factories.items():
            if name not in kwargs:
                state[name] = factory()
        event = object.__new__(event_class)
        object.__setattr__(event, "__dict__", state)
        event.apply(self)
        self.version = version
        self.modified_on = state["timestamp"]
        self.pending_events.append(event)

    @classmethod
    def plant(cls, specs: list[dict[str, Any]], cause: Cause) -> TaskTree:
        """A new tree from validated task specs, parents before children, root first."""
        tree = cls(root_task_id=specs[0]["id"], cause=cause)
        for spec in specs:
            tree.trigger_event(
                cls.TaskCreated,
                task_id=spec["id"],
                cause=cause,
                fields={k: v for k, v in spec.items() if k != "id"},
            )
        return tree

    def add_task(self, spec: dict[str, Any], cause: Cause) -> None:
        """Add one validated task under an existing parent of this tree."""
        task_id = spec["id"]
        self.require(spec["parent_id"], field="parent_id")
        for dep in spec.get("dependencies", ()):
            self.require(dep["id"], field="dependencies", owner=task_id)
        self.trigger_event(
            self.TaskCreated,
            task_id=task_id,
            cause=cause,
            fields={k: v for k, v in spec.items() if k != "id"},
        )

    def update_field(self, task_id: str, field: str, value: Any, cause: Cause) -> bool:
        """Change one field; returns False when the value is already the stored one."""
        state = self.require(task_id)
        value = self._checked_definition(task_id, field, value)
        check_task_size({**state, field: value}, task_id)
        if state[field] == value:
            return False
        self.trigger_event(self.TaskUpdated, task_id=task_id, cause=cause, changes={field: value})
        return True

    def update(self, task_id: str, changes: Mapping[str, Any], cause: Cause) -> None:
        """Change several fields at once, all or nothing.

        Every problem is reported together in one UpdateRejectedError. With ``status``,
        the outcome fields (result, error, error_type, progress, started_at, completed_at)
        follow ``set_status``; without it they change on their own, the status staying.
        """
        state = self.require(task_id)
        clean: dict[str, Any] = {}
        problems: list[TaskValidationError] = []
        for field, value in changes.items():
            try:
                clean[field] = self._checked(task_id, field, value)
            except TaskValidationError as problem:
                problems.append(problem)
        if problems:
            raise UpdateRejectedError(task_id, problems)
        check_task_size({**state, **clean}, task_id)
        status = clean.pop("status", None)
        outcome = {f: clean.pop(f) for f in OUTCOME_FIELDS if f in clean} if status else {}
        changed = {field: value for field, value in clean.items() if state[field] != value}
        if changed:
            self.trigger_event(self.TaskUpdated, task_id=task_id, cause=cause, changes=changed)
        if status is not None:
            self.set_status(task_id, status, cause, **outcome)

    def _checked(self, task_id: str, field: str, value: Any) -> Any:
        if field == "status":
            return check_status(value, task_id)
        if field in OUTCOME_FIELDS:
            return check_outcome(field, value, task_id)
        return self._checked_definition(task_id, field, value)

    def _checked_definition(self, task_id: str, field: str, value: Any) -> Any:
        if field in IMMUTABLE_FIELDS:
            raise ImmutableFieldError("never changes after creation", task_id=task_id, field=field)
        value = check_field(field, value, task_id)
        if field == "dependencies":
            self._check_new_dependencies(task_id, value)
        return value

    def set_status(
        self,
        task_id: str,
        status: str,
        cause: Cause,
        *,
        result: Any = None,
        error: str | None = None,
        error_type: str | None = None,
        progress: float | None = None,
        attempt: int | None = None,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
        traceback: str | None = None,
    ) -> None:
        """Record a status change (or, for a running task, just its progress)."""
        state = self.require(task_id)
        check_status(status, task_id)
        if progress is not None:
            progress = check_progress(progress, task_id)
        result = check_json(result, task_id, "result")
        error = clean_message(error)
        error_type = clean_message(error_type, max_chars=MAX_KEY_CHARS)
        started_at = check_time(started_at, task_id, "started_at")
        completed_at = check_time(completed_at, task_id, "completed_at")
        if status == TaskStatus.IN_PROGRESS == state["status"] and attempt is None:
            if progress is not None and progress != state["progress"]:
                self.trigger_event(
                    self.TaskProgressed, task_id=task_id, cause=cause, progress=progress
                )
            return
        self.trigger_event(
            self.TaskStatusChanged,
            task_id=task_id,
            cause=cause,
            status=status,
            result=result,
            error=error,
            error_type=error_type,
            progress=progress,
            attempt=attempt,
            started_at=started_at,
            completed_at=completed_at,
            traceback=clean_traceback(traceback),
        )

    def mark_copied(self, task_id: str, copy_id: str, copy_tree_id: str, cause: Cause) -> None:
        self.require(task_id)
        self.trigger_event(
            self.TaskCopied,
            task_id=task_id,
            cause=cause,
            copy_id=copy_id,
            copy_tree_id=copy_tree_id,
        )

    def record_hook_failure(self, task_id: str, hook: str, error: str, cause: Cause) -> None:
        self.require(task_id)
        self.trigger_event(
            self.HookFailed,
            task_id=task_id,
            cause=cause,
            hook=clean_message(hook, max_chars=MAX_KEY_CHARS),
            error=clean_message(error),
        )

    def record_attempt_failure(
        self,
        task_id: str,
        attempt: int,
        cause: Cause,
        *,
        error: str | None = None,
        error_type: str | None = None,
        traceback: str | None = None,
    ) -> None:
        """Record that attempt ``attempt`` of a running task failed and it will retry."""
        self.require(task_id)
        self.trigger_event(
            self.AttemptFailed,
            task_id=task_id,
            cause=cause,
            attempt=attempt,
            error=clean_message(error),
            error_type=clean_message(error_type, max_chars=MAX_KEY_CHARS),
            traceback=clean_traceback(traceback),
        )

    def delete(self, task_id: str, cause: Cause) -> list[str]:
        """Delete a task with its descendants; returns the deleted ids, children first."""
        self.require(task_id)
        doomed = [task_id, *self.descendant_ids(task_id)]
        doomed_set = set(doomed)
        for other_id, other in self.tasks.items():
            if other_id in doomed_set:
                continue
            for dep in other["dependencies"]:
                if dep["id"] in doomed_set:
                    raise DependencyError(
                        f"task {other_id!r} depends on {dep['id']!r}, which this deletes",
                        task_id=task_id,
                        field="dependencies",
                    )
        for doomed_id in reversed(doomed):
            self.trigger_event(
                self.TaskDeleted,
                task_id=doomed_id,
                cause=cause,
                parent_id=self.tasks[doomed_id]["parent_id"],
            )
        return list(reversed(doomed))

    # ------------------------------------------------------------------ queries

    def require(
        self, task_id: str, *, field: str | None = None, owner: str | None = None
    ) -> TaskState:
        """The state of ``task_id``; a clear error when it is not in this tree."""
        try:
            return self.tasks[task_id]
        except (KeyError, TypeError):
            if owner is None:
                raise TaskNotFoundError(task_id, field=field) from None
            raise DependencyError(
                f"refers to {task_id!r}, which is not a task of this tree",
                task_id=owner,
                field=field,
            ) from None

    def descendant_ids(self, task_id: str) -> Iterator[str]:
        """Ids below ``task_id``, breadth first."""
        queue = deque(self.children[task_id])
        while queue:
            child = queue.popleft()
            yield child
            queue.extend(self.children[child])

    def ancestor_ids(self, task_id: str) -> Iterator[str]:
        """Ids above ``task_id``: its parent, grandparent, ... up to the root."""
        parent = self.tasks[task_id]["parent_id"]
        while parent is not None:
            yield parent
            parent = self.tasks[parent]["parent_id"]

    def common_ancestor(self, task_ids: Iterable[str]) -> str:
        """The lowest task that is, or is an ancestor of, every one of ``task_ids``."""
        ids = iter(task_ids)
        first = next(ids)
        chain = [first, *self.ancestor_ids(first)]
        # Where each task seen so far joins the first one's chain: every walk up stops
        # at a task already seen, so the whole search visits each task once.
        joins = {task_id: depth for depth, task_id in enumerate(chain)}
        lowest = 0
        for task_id in ids:
            path = []
            node = task_id
            while node not in joins:  # every chain ends at the root, which is in joins
                path.append(node)
                node = self.tasks[node]["parent_id"]
            joins.update(dict.fromkeys(path, joins[node]))
            lowest = max(lowest, joins[node])
        return chain[lowest]

    def direct_dependent_ids(self, task_id: str) -> list[str]:
        """Ids of the tasks that list ``task_id`` among their dependencies."""
        return [
            other_id
            for other_id, other in self.tasks.items()
            if any(dep["id"] == task_id for dep in other["dependencies"])
        ]

    def dependent_ids(self, *task_ids: str) -> list[str]:
        """Ids of the tasks that depend on any of ``task_ids``, directly or through
        others, breadth first; the given tasks themselves are left out."""
        direct: dict[str, list[str]] = {}
        for other_id, other in self.tasks.items():
            for dep in other["dependencies"]:
                direct.setdefault(dep["id"], []).append(other_id)
        found: list[str] = []
        seen = set(task_ids)
        queue = deque(task_ids)
        while queue:
            for dependent in direct.get(queue.popleft(), ()):
                if dependent not in seen:
                    seen.add(dependent)
                    found.append(dependent)
                    queue.append(dependent)
        return found

    def cancel_scope(self, task_id: str) -> list[str]:
        """The task, its descendants, and every task that requires one of them, transitively."""
        requirers: dict[str, list[str]] = {}
        for other_id, other in self.tasks.items():
            for dep in other["dependencies"]:
                if dep["required"]:
                    requirers.setdefault(dep["id"], []).append(other_id)
        scope = [task_id]
        seen = {task_id}
        for current in scope:  # grows while iterating: breadth first
            for nxt in (*self.children[current], *requirers.get(current, ())):
                if nxt not in seen:
                    seen.add(nxt)
                    scope.append(nxt)
        return scope

    def _check_new_dependencies(self, task_id: str, deps: list[dict[str, Any]]) -> None:
        state = self.tasks[task_id]
        if state["status"] != TaskStatus.PENDING:
            raise TaskStateError(
                f"can only change while the task is pending; it is {state['status']}",
                task_id=task_id,
                field="dependencies",
            )
        for dep in deps:
            self.require(dep["id"], field="dependencies", owner=task_id)
        for other_id, other in self.tasks.items():
            if other["status"] != TaskStatus.PENDING and any(
                d["id"] == task_id for d in other["dependencies"]
            ):
                raise DependencyError(
                    f"dependent task {other_id!r} is already {other['status']}",
                    task_id=task_id,
                    field="dependencies",
                )
        graph = {tid: [d["id"] for d in t["dependencies"]] for tid, t in self.tasks.items()}
        graph[task_id] = [d["id"] for d in deps]
        cycle = find_cycle(graph)
        if cycle:
            raise DependencyError(
                f"would create a dependency cycle: {' -> '.join(cycle)}",
                task_id=task_id,
                field="dependencies",
            )


_STATUS_EVENT_KINDS = {
    TaskStatus.PENDING: "reset",
    TaskStatus.IN_PROGRESS: "started",
    TaskStatus.WAITING: "waiting",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled",
}


def apply_event(event: object, tree: TaskTree | None) -> TaskTree:
    """Fold one event read from the log (a snapshot, a creation or a change) into ``tree``."""
    # The store hands events back typed by eventsourcing's protocol, which has no mutate().
    return cast(Any, event).mutate(tree)
