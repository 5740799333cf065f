"""Durable A2A tasks and push configs, kept in the server's database.

An A2A task is a conversation (its history, its status, the run it started); the tree it
runs lives in the event log. The tables here hold what the log does not: the A2A task as
last saved and the push configs set on it. A saved task that still says ``working`` is read
through its tree, so a run that ended while no stream was listening (a restart, a recovery)
reads as ended.
"""

from __future__ import annotations

from typing import Any

from a2a.server.tasks import PushNotificationConfigStore, TaskStore
from a2a.types import DataPart, Message, Part, PushNotificationConfig, Role, Task, TaskState
from a2a.types import TaskStatus as A2ATaskStatus
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.server.access import Access
from aipartnerupflow.runtime.session import Database

#: Not a projection: these rows come from A2A requests, not from the event log, so
#: rebuilding the projections must not drop them.
a2a_metadata = MetaData()

a2a_tasks = Table(
    "a2a_tasks",
    a2a_metadata,
    Column("id", String(255), primary_key=True),
    Column("owner", String(255)),
    Column("root_task_id", String(255), index=True),
    Column("body", Text, nullable=False),
)

a2a_push_configs = Table(
    "a2a_push_configs",
    a2a_metadata,
    Column("task_id", String(255), primary_key=True),
    Column("config_id", String(255), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("body", Text, nullable=False),
)

A2A_STATES = {
    TaskStatus.PENDING: TaskState.submitted,
    TaskStatus.IN_PROGRESS: TaskState.working,
    TaskStatus.COMPLETED: TaskState.completed,
    TaskStatus.FAILED: TaskState.failed,
    TaskStatus.CANCELLED: TaskState.canceled,
    TaskStatus.WAITING: TaskState.input_required,
}
#: States a tree's status may overrule: the task was saved while its run went on (or
#: waited for input, which may have come since).
_RUNNING = (TaskState.submitted, TaskState.working, TaskState.input_required)
ROOT_KEY = "root_task_id"


def root_of(task: Task | None) -> str | None:
    """The root of the tree an A2A task runs (None while it waits for its tasks)."""
    root = (task.metadata or {}).get(ROOT_KEY) if task is not None else None
    return root if isinstance(root, str) else None


def open_a2a_tables(db: Database) -> None:
    """Create the tables (if missing) in ``db``."""
    db.create_tables(a2a_metadata)


class DurableTaskStore(TaskStore):
    """A2A tasks in the database, each visible only to its owner when access is on.

    A task id that is no A2A task but a stored tree task reads as an A2A task of that
    task's subtree (so a message or a cancel may name a tree task directly).
    """

    def __init__(self, db: Database, access: Access) -> None:
        self.db = db
        self.access = access
        self.repository = TaskRepository(db)
        open_a2a_tables(db)

    async def save(self, task: Task, context: Any = None) -> None:
        await self.db.run(self._save, task, Access.user_of(context))

    def _save(self, task: Task, user: str | None) -> None:
        body = task.model_dump_json(exclude_none=True)
        root = root_of(task)
        with self.db.engine.begin() as connection:
            found = connection.execute(
                select(a2a_tasks.c.id).where(a2a_tasks.c.id == task.id)
            ).first()
            if found is None:
                # The first save is made for the request that created the task: its owner.
                row = {"id": task.id, "owner": user, "root_task_id": root, "body": body}
                connection.execute(insert(a2a_tasks).values(row))
            else:
                connection.execute(
                    update(a2a_tasks)
                    .where(a2a_tasks.c.id == task.id)
                    .values(root_task_id=root, body=body)
                )

    async def get(self, task_id: str, context: Any = None) -> Task | None:
        user = Access.user_of(context)
        row = await self.db.run(self._row, task_id)
        if row is not None:
            if not self.access.may_use(user, row.owner):
                return None
            task = Task.model_validate_json(row.body)
            return await self._through_tree(task)
        stored = await self.repository.get_task_by_id(task_id)
        if stored is None or not self.access.may_use(user, stored.user_id):
            return None
        task = Task(
            id=stored.id,
            context_id=stored.id,
            status=A2ATaskStatus(state=TaskState.working),
            metadata={ROOT_KEY: stored.id},
        )
        return await self._through_tree(task)

    def _row(self, task_id: str) -> Any:
        with self.db.connections.read() as connection:
            return connection.execute(select(a2a_tasks).where(a2a_tasks.c.id == task_id)).first()

    async def _through_tree(self, task: Task) -> Task:
        """``task`` with the status of its tree when its saved status may be stale."""
        root = root_of(task)
        if root is None or task.status.state not in _RUNNING:
            return task
        node = await self.repository.build_task_tree(root)
        status = node.calculate_status()
        summary = {
            "protocol": "a2a",
            "status": status,
            ROOT_KEY: root,
            "progress": node.calculate_progress(),
        }
        message = Message(
            message_id=f"{task.id}-{status}",
            role=Role.agent,
            task_id=task.id,
            context_id=task.context_id,
            parts=[Part(root=DataPart(data=summary))],
        )
        state = A2A_STATES[status]
        if state == task.status.state:
            return task
        return task.model_copy(update={"status": A2ATaskStatus(state=state, message=message)})

    async def delete(self, task_id: str, context: Any = None) -> None:
        def remove() -> None:
            with self.db.engine.begin() as connection:
                connection.execute(delete(a2a_tasks).where(a2a_tasks.c.id == task_id))

        await self.db.run(remove)


class DurablePushConfigStore(PushNotificationConfigStore):
    """Push configs per A2A task, in the order they were first set."""

    def __init__(self, db: Database) -> None:
        self.db = db
        open_a2a_tables(db)

    async def set_info(self, task_id: str, notification_config: PushNotificationConfig) -> None:
        if notification_config.id is None:
            notification_config.id = task_id
        await self.db.run(self._set, task_id, notification_config)

    def _set(self, task_id: str, config: PushNotificationConfig) -> None:
        table = a2a_push_configs
        key = (table.c.task_id == task_id) & (table.c.config_id == config.id)
        body = config.model_dump_json(exclude_none=True)
        with self.db.engine.begin() as connection:
            if connection.execute(select(table.c.position).where(key)).first() is not None:
                connection.execute(update(table).where(key).values(body=body))
                return
            last = connection.execute(
                select(func.max(table.c.position)).where(table.c.task_id == task_id)
            ).scalar()
            connection.execute(
                insert(table).values(
                    task_id=task_id, config_id=config.id, position=(last or 0) + 1, body=body
                )
            )

    async def get_info(self, task_id: str) -> list[PushNotificationConfig]:
        return await self.db.run(self._get, task_id)

    def _get(self, task_id: str) -> list[PushNotificationConfig]:
        table = a2a_push_configs
        query = select(table.c.body).where(table.c.task_id == task_id).order_by(table.c.position)
        with self.db.connections.read() as connection:
            return [_config(body) for body in connection.execute(query).scalars()]

    async def delete_info(self, task_id: str, config_id: str | None = None) -> None:
        def remove() -> None:
            table = a2a_push_configs
            key = (table.c.task_id == task_id) & (table.c.config_id == (config_id or task_id))
            with self.db.engine.begin() as connection:
                connection.execute(delete(table).where(key))

        await self.db.run(remove)


def _config(body: str) -> PushNotificationConfig:
    return PushNotificationConfig.model_validate_json(body)
