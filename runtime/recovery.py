"""Which interrupted trees this process may resume, and which it must leave alone.

A tree is resumable here when nobody owns it (queued, its owner's lease expired, or a
tree from before leases existed that stopped mid-run) and every executor its unfinished
tasks name is registered in this process. A tree whose executors live in another
application is reported, never failed: that application resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from uuid import UUID

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from aipartnerupflow.actors.registry import ExtensionRegistry, resolve_executor_id
from aipartnerupflow.actors.waiting import wait_expired
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store import leases
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.runtime.session import Database


@dataclass
class RecoveryPlan:
    """Root task ids to resume, and the trees skipped with the executor ids they lack."""

    resume: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def missing_executors(tree: TaskTree, root_task_id: str, registry: ExtensionRegistry) -> list[str]:
    """Executor ids named by unfinished tasks of the subtree that are not registered."""
    missing: set[str] = set()
    for task_id in [root_task_id, *tree.descendant_ids(root_task_id)]:
        state = tree.tasks[task_id]
        if TaskStatus.is_terminal(state["status"]):
            continue
        executor_id, registered = resolve_executor_id(SimpleNamespace(**state), registry)
        if executor_id is not None and not registered:
            missing.add(executor_id)
    return sorted(missing)


def plan_recovery(db: Database, registry: ExtensionRegistry) -> RecoveryPlan:
    """What ``TaskManager.recover`` would resume now (runs on the database worker).

    Besides interrupted trees, a tree with a wait for input past its ``input_timeout``
    is resumed too: its run fails that wait.
    """
    with db.connections.read() as connection:
        candidates: dict[UUID, str | None] = dict(leases.claimable(connection))
        candidates.update(dict.fromkeys(_interrupted_without_lease(connection)))
        waiting = _waiting(connection)
    plan = RecoveryPlan()
    for tree_id in waiting - candidates.keys():
        if any(wait_expired(s) for s in db.log.load(tree_id).tasks.values()):
            candidates[tree_id] = None
    for tree_id, root in candidates.items():
        tree = db.log.load(tree_id)
        root_task_id = root or tree.root_task_id
        if root_task_id not in tree.tasks:
            continue
        if not any(TaskStatus.is_active(s["status"]) for s in tree.tasks.values()):
            continue
        missing = missing_executors(tree, root_task_id, registry)
        if missing:
            plan.skipped[root_task_id] = missing
        else:
            plan.resume.append(root_task_id)
    return plan


def _interrupted_without_lease(connection: Connection) -> list[UUID]:
    """Trees stopped mid-run (some task begun, some still active) that have no lease row:
    written before leases existed, or by a process that died before taking one."""
    tasks = TaskModel.__table__
    lease_rows = select(leases.leases_table.c.tree_id)
    active = func.sum(case((tasks.c.status.in_(TaskStatus.ACTIVE), 1), else_=0))
    begun = func.sum(case((tasks.c.status != TaskStatus.PENDING, 1), else_=0))
    query = (
        select(tasks.c.tree_id)
        .where(tasks.c.tree_id.not_in(lease_rows))
        .group_by(tasks.c.tree_id)
        .having(active > 0, begun > 0)
    )
    return list(connection.execute(query).scalars())


def _waiting(connection: Connection) -> set[UUID]:
    """Trees with a task waiting for input that has an ``input_timeout``: their waits
    may have expired."""
    tasks = TaskModel.__table__
    query = select(tasks.c.tree_id, tasks.c.params).where(tasks.c.status == TaskStatus.WAITING)
    return {
        tree_id
        for tree_id, params in connection.execute(query)
        if isinstance(params, dict) and params.get("input_timeout")
    }
