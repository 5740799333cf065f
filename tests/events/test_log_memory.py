"""The log's per-tree bookkeeping stays bounded however many trees a process writes."""

from __future__ import annotations

from aipartnerupflow import Database, TaskRepository


async def test_snapshot_versions_are_kept_for_recent_trees_only(db: Database) -> None:
    repo = TaskRepository(db)
    db.log._snapshot_versions_kept = 3
    for index in range(10):
        await repo.create_task(name="t", id=f"t{index}")
    assert len(db.log._snapshot_versions) == 3
    # A tree whose entry was dropped is looked up again when it is next written.
    await repo.update_task_name("t0", "renamed")
    assert (await repo.get_task_by_id("t0")).name == "renamed"
    assert len(db.log._snapshot_versions) == 3
