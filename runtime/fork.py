"""Fork a tree from any point of its log into a new tree, ready to run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from aipartnerupflow.errors import TaskNotFoundError
from aipartnerupflow.events.domain.cause import current_cause
from aipartnerupflow.events.domain.fork import plan_fork, plant_fork
from aipartnerupflow.events.domain.tree import Cause, TaskTree
from aipartnerupflow.events.domain.validation import check_task_id
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.projections.lineage import locate
from aipartnerupflow.projections.tree_node import TaskTreeNode
from aipartnerupflow.runtime.queries import TaskQueries
from aipartnerupflow.runtime.session import Database


def _fork(
    db: Database,
    root_id: str,
    position: int | None,
    at: datetime | None,
    overrides: Mapping[str, Any] | None,
    rerun: Iterable[str] | None,
    cause: Cause,
) -> TaskTreeNode:
    root_id = check_task_id(root_id, field="root_id")

    def command(work: Work) -> TaskTree:
        point = locate(db, root_id, position, at)
        source = db.log.load_at(point.tree_id, point.version)
        if source is None or root_id not in source.tasks:
            raise TaskNotFoundError(root_id, reason="did not exist at that point of the log")
        planned, checked, forced = plan_fork(source, root_id, overrides, rerun)
        user = source.tasks[root_id]["user_id"]
        fork_cause = cause if "user_id" in cause or user is None else {**cause, "user_id": user}
        return work.add(
            plant_fork(
                str(point.tree_id), root_id, point.position, planned, checked, forced, fork_cause
            )
        )

    tree = db.log.run(command)
    return TaskQueries(db).node(tree, tree.root_task_id)


def fork(
    db: Database,
    root_id: str,
    position: int | None = None,
    at: datetime | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    rerun: Iterable[str] | None = None,
) -> TaskTreeNode:
    """A new pending tree that starts from ``root_id``'s subtree as it was after log
    ``position`` (or at time ``at``; without either, as it is now).

    Tasks completed by then keep their results and do not run again; every other task
    is pending. ``overrides`` maps task ids (or unique names) to ``{"inputs": {...},
    "params": {...}}``, merged key by key; those tasks, the tasks named in ``rerun`` and
    everything depending on them start pending. Each task's ``original_task_id`` names
    its source task; ``lineage()`` tells where the fork branched. The source tree is
    never written. Run the fork like any tree (``TaskManager.run_tree``).
    """
    return db.call(_fork, db, root_id, position, at, overrides, rerun, current_cause())


async def fork_async(
    db: Database,
    root_id: str,
    position: int | None = None,
    at: datetime | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    rerun: Iterable[str] | None = None,
) -> TaskTreeNode:
    """``fork`` without blocking the event loop."""
    return await db.run(_fork, db, root_id, position, at, overrides, rerun, current_cause())
