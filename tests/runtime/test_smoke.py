"""The data API end to end on a real SQLite file."""

from __future__ import annotations

from aipartnerupflow import TaskRepository, TaskStatus, history, rebuild_projections


async def test_create_update_and_read_back(repo: TaskRepository, db) -> None:
    root = await repo.create_task(name="fetch", user_id="u1")
    child = await repo.create_task(
        name="parse", user_id="u1", parent_id=root.id, dependencies=[{"id": root.id}]
    )
    await repo.update_task_status(root.id, TaskStatus.COMPLETED, result={"n": 1})

    stored = await repo.get_task_by_id(root.id)
    assert stored.status == TaskStatus.COMPLETED
    assert stored.result == {"n": 1}
    assert stored.has_children is True
    assert [e["type"] for e in history(db, task_id=root.id)] == ["created", "completed"]
    assert (await repo.get_task_by_id(child.id)).dependencies == [
        {"id": root.id, "required": True, "type": "result"}
    ]
    assert rebuild_projections(db) == 2
    assert (await repo.get_task_by_id(root.id)).to_dict() == stored.to_dict()
