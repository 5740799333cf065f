"""A cancel from another process reaches the tree's owner, which stops the work."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from aipartnerupflow import TaskManager, TaskRepository, TaskStatus, create_session

STEPS = 30

OWNER = textwrap.dedent(
    """
    import asyncio, json, sys
    from aipartnerupflow import (
        BaseTask, TaskCreator, TaskManager, create_session, executor_register)

    @executor_register()
    class Nap(BaseTask):
        id = "nap"
        name = "nap"
        description = "takes a moment"

        async def execute(self, inputs):
            await asyncio.sleep(inputs.get("seconds", 0.05))
            return {}

    async def main(url):
        db = create_session(url)
        tasks = [{"id": "c0", "name": "nap"}] + [
            {"id": f"c{i}", "name": "nap", "parent_id": "c0",
             "dependencies": [{"id": f"c{i - 1}"}]}
            for i in range(1, __STEPS__)
        ]
        tasks[2]["inputs"] = {"seconds": 120}  # still running when the cancel comes
        await TaskCreator(db).create_task_tree_from_array(tasks)
        print("created", flush=True)
        summary = await TaskManager(db).run_tree("c0")
        print(json.dumps(summary), flush=True)

    asyncio.run(main(sys.argv[1]))
    """
).replace("__STEPS__", str(STEPS))


async def _cancel_when_started(url: str) -> dict[str, object]:
    db = create_session(url)
    try:
        repo = TaskRepository(db)
        deadline = time.monotonic() + 60
        while (await repo.get_task_by_id("c2")).status != TaskStatus.IN_PROGRESS:
            assert time.monotonic() < deadline, "the owner made no progress"
            await asyncio.sleep(0.02)
        return await TaskManager(db).cancel_task("c2", "stop it")
    finally:
        db.close()


def test_cancel_from_another_process_stops_the_owner(db_url: str, tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen(
        [sys.executable, str(script), db_url], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    try:
        assert owner.stdout.readline().strip() == "created"
        answer = asyncio.run(_cancel_when_started(db_url))
        out, _ = owner.communicate(timeout=60)
    finally:
        owner.kill()
    assert answer["status"] == "cancelled", answer
    assert "c2" in answer["cancelled_task_ids"]
    assert '"root_task_id": "c0"' in out, out
    statuses = asyncio.run(_statuses(db_url))
    assert statuses["c2"] == TaskStatus.CANCELLED
    # What required c2 never ran: the chain stopped there.
    assert all(statuses[f"c{i}"] != TaskStatus.COMPLETED for i in range(2, STEPS))
    assert {s for t, s in statuses.items() if t in ("c0", "c1")} == {TaskStatus.COMPLETED}


async def _statuses(url: str) -> dict[str, str]:
    db = create_session(url)
    try:
        return {t.id: t.status for t in await TaskRepository(db).list_tasks(limit=100)}
    finally:
        db.close()
