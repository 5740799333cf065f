"""Create a task tree on the default database, change it, and read its history back."""

from __future__ import annotations

import asyncio
import uuid

from aipartnerupflow import (
    TaskCreator,
    TaskRepository,
    get_default_session,
    history,
    log_position,
    tree_at,
)


async def main() -> None:
    db = get_default_session()
    repo = TaskRepository(db)
    run = uuid.uuid4().hex[:8]
    root = await TaskCreator(db).create_task_tree_from_array(
        [
            {
                "id": f"{run}-fetch",
                "name": "fetch",
                "user_id": "demo",
                "inputs": {"url": "https://example.org"},
            },
            {
                "id": f"{run}-parse",
                "name": "parse",
                "parent_id": f"{run}-fetch",
                "dependencies": [{"id": f"{run}-fetch", "required": True}],
            },
            {
                "id": f"{run}-report",
                "name": "report",
                "parent_id": f"{run}-fetch",
                "dependencies": [{"id": f"{run}-parse", "required": True}],
            },
        ]
    )
    created_at = log_position(db)
    await repo.update_task_status(f"{run}-fetch", "in_progress")
    await repo.update_task_status(f"{run}-fetch", "completed", result={"bytes": 1024})
    await repo.update_task_priority(f"{run}-report", 0)

    print(f"database: {db}")
    print(f"tree {root.task.id}: {len(root.tasks())} tasks")
    for entry in history(db, task_id=f"{run}-fetch"):
        print(f"  #{entry['position']:>5} {entry['type']:<10} {sorted(entry['changes'])}")
    then, now = (
        tree_at(db, root.task.id, position=created_at),
        await repo.build_task_tree(root.task),
    )
    print(f"status then: {then.calculate_status()}, progress {then.calculate_progress():.2f}")
    print(f"status now:  {now.calculate_status()}, progress {now.calculate_progress():.2f}")


if __name__ == "__main__":
    asyncio.run(main())
