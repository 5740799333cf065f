"""Who may touch which task: with authentication on, users see only their own tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from a2a.auth.user import User

from aipartnerupflow.errors import TaskNotFoundError, TaskValidationError
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.session import Database


class RequestUser(User):
    """The acting user of a request, as the A2A SDK wants it."""

    def __init__(self, user_id: str | None) -> None:
        self.user_id = user_id

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def user_name(self) -> str:
        return self.user_id or ""


@dataclass(frozen=True)
class Access:
    """Ownership rules; all open when ``enabled`` is False (no authentication)."""

    enabled: bool

    @staticmethod
    def user_of(call_context: Any) -> str | None:
        user = getattr(call_context, "user", None)
        return user.user_id if isinstance(user, RequestUser) else None

    def may_use(self, user: str | None, owner: str | None) -> bool:
        return not self.enabled or (user is not None and user == owner)

    async def require(self, db: Database, task_id: str, user: str | None) -> None:
        """Raise TaskNotFoundError unless the task exists and ``user`` may use it
        (another user's task is reported as missing: its existence is not revealed)."""
        task = await TaskRepository(db).get_task_by_id(task_id)
        if task is None or not self.may_use(user, task.user_id):
            raise TaskNotFoundError(task_id)

    def claim(self, tasks: Any, user: str | None) -> Any:
        """Tasks created by ``user``: they get its user_id; another user_id is refused."""
        if not self.enabled or not isinstance(tasks, list):
            return tasks
        claimed = []
        for task in tasks:
            if isinstance(task, dict):
                owner = task.get("user_id")
                if owner is not None and owner != user:
                    raise TaskValidationError(
                        f"cannot create tasks for user {owner!r} as {user!r}",
                        task_id=task.get("id"),
                        field="user_id",
                    )
                task = {**task, "user_id": user}
            claimed.append(task)
        return claimed
