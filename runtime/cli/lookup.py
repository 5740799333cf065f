"""Finding a task by its id or by the start of it (as short ids are shown)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.runtime.repository import TaskRepository
from aipartnerupflow.runtime.session import Database

_ids = TaskModel.__table__.c.id


#: How many candidates an ambiguous id names.
CANDIDATES = 3


class AmbiguousIdError(ValueError):
    """More than one task's id starts with the given text."""


def _ids_starting(database: Database, prefix: str) -> list[str]:
    query = (
        select(_ids)
        .where(_ids.startswith(prefix, autoescape=True))
        .order_by(_ids)
        .limit(CANDIDATES + 1)
    )
    with database.connections.read() as connection:
        return [row.id for row in connection.execute(query)]


async def find_task(database: Database, task_id: str) -> Any:
    """The task with this id; else the only task whose id starts with it (a trailing
    ellipsis, as shortened ids end, is ignored); else None. AmbiguousIdError when
    several ids start with it."""
    repository = TaskRepository(database)
    task = await repository.get_task_by_id(task_id)
    prefix = task_id.removesuffix("…")
    if task is not None or not prefix:
        return task
    found = await database.run(_ids_starting, database, prefix)
    if len(found) > 1:
        names = ", ".join(found[:CANDIDATES]) + (", ..." if len(found) > CANDIDATES else "")
        raise AmbiguousIdError(
            f"several task ids start with {task_id!r} ({names}); give more of it"
        )
    return await repository.get_task_by_id(found[0]) if found else None
