"""Write a golden log: trees covering every event type, with what reading them must give.

Run it with the version whose log format is to be kept readable, e.g.::

    python tests/golden/record.py tests/golden/v0.10.0.json

The file holds the raw rows of the event log and the snapshots (the log exactly as that
version stored it) and the expected ``history``, ``tree_at`` and rebuilt task rows.
``tests/test_golden_logs.py`` loads every such file into a fresh database and checks that
the current code reads it the same way. Only the public API is used here, so the script
keeps working as the code moves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

import aipartnerupflow
from aipartnerupflow import (
    BaseTask,
    ExtensionRegistry,
    TaskCreator,
    TaskManager,
    TaskRepository,
    caused_by,
    create_session,
    history,
    log_position,
    tree_at,
)


class Echo(BaseTask):
    id = "echo"
    name = "echo"
    description = "returns its inputs; reports progress"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.report_progress(0.5)
        await asyncio.sleep(0.01)
        if inputs.get("fail"):
            raise RuntimeError("asked to fail")
        return {"echo": inputs}


class Flaky(BaseTask):
    id = "flaky"
    name = "flaky"
    description = "fails on its first attempt"
    calls = 0

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        Flaky.calls += 1
        if Flaky.calls == 1:
            raise ConnectionError("first attempt fails")
        return {"attempts": Flaky.calls}


class Slow(BaseTask):
    id = "slow"
    name = "slow"
    description = "waits to be cancelled"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {}

    async def cancel(self) -> dict[str, Any]:
        return {"partial_result": {"done": 3}, "token_usage": {"total": 7}}


def _registry() -> ExtensionRegistry:
    registry = ExtensionRegistry()
    for executor in (Echo, Flaky, Slow):
        registry.register_executor(executor)
    return registry


def _failing_hook(task: Any) -> None:
    if task.name == "first":
        raise RuntimeError("hook broke")


def _tagging_hook(task: Any) -> None:
    if task.name == "second":
        task.inputs["tagged"] = True


async def _write_trees(db: aipartnerupflow.Database) -> dict[str, Any]:
    creator, repo = TaskCreator(db), TaskRepository(db)
    registry = _registry()
    with caused_by(user_id="alice", request_id="golden-1"):
        root = await creator.create_task_tree_from_array(
            [
                {
                    "id": "a-root",
                    "name": "root",
                    "user_id": "alice",
                    "params": {"executor_id": "echo"},
                },
                {
                    "id": "a-first",
                    "name": "first",
                    "parent_id": "a-root",
                    "params": {"executor_id": "flaky", "max_retries": 2, "retry_delay": 0.01},
                },
                {
                    "id": "a-second",
                    "name": "second",
                    "parent_id": "a-root",
                    "dependencies": [{"id": "a-first", "required": True}],
                    "params": {"executor_id": "echo"},
                    "inputs": {"n": 1},
                },
                {
                    "id": "a-third",
                    "name": "third",
                    "parent_id": "a-second",
                    "params": {"executor_id": "echo"},
                    "inputs": {"fail": True},
                },
            ]
        )
    await repo.update_task_name("a-third", "third (renamed)")
    await repo.update_task_priority("a-third", 0)
    await repo.update_task_inputs("a-second", {"n": 2, "list": [1, 2.5, "x", None]})
    await repo.update_task_params("a-second", {"executor_id": "echo", "timeout": 30})
    await repo.update_task_schemas("a-second", {"input_schema": {"type": "object"}})
    await repo.update_task_dependencies("a-third", [{"id": "a-second", "required": False}])
    extra = await repo.create_task(name="extra", parent_id="a-root", id="a-extra")
    manager = TaskManager(
        db, registry=registry, pre_hooks=[_failing_hook, _tagging_hook], max_concurrency=2
    )
    await repo.update_task_params(extra.id, {"executor_id": "echo"})
    await manager.distribute_task_tree(root)
    await repo.update_task_status("a-third", "pending")  # a reset: queued to run again

    with caused_by(user_id="bob", request_id="golden-2"):
        copy = await creator.create_task_copy("a-second", children=True)
        third = next(c.task.id for c in copy.children if c.task.name.startswith("third"))
        await repo.delete_task(third)

    slow = await creator.create_task_tree_from_array(
        [
            {"id": "b-root", "name": "root", "params": {"executor_id": "slow"}},
            {
                "id": "b-child",
                "name": "child",
                "parent_id": "b-root",
                "dependencies": [{"id": "b-root", "required": True}],
            },
        ]
    )
    run = asyncio.create_task(TaskManager(db, registry=registry).distribute_task_tree(slow))
    while (await repo.get_task_by_id("b-root")).status != "in_progress":
        await asyncio.sleep(0.01)
    with caused_by(user_id="carol", request_id="golden-3"):
        await TaskManager(db, registry=registry).cancel_task("b-root", "stop it")
    await run

    # A long stream, so that it has snapshots: one task with many progress changes.
    await repo.create_task(name="long", id="c-long")
    await repo.update_task_status("c-long", "in_progress")
    for step in range(1, 1101):
        await repo.update_task_status("c-long", "in_progress", progress=step / 1101)
    await repo.update_task_status("c-long", "completed", result={"steps": 1100})
    return {"roots": ["a-root", copy.task.id, "b-root", "c-long"]}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_cell))


def _cell(value: Any) -> Any:
    """A database value as JSON: bytes in base64, times in ISO 8601, UUIDs as text."""
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (int, str)):
        return value
    return str(value)


def _rows(db: aipartnerupflow.Database, sql: str) -> list[list[Any]]:
    with db.engine.connect() as connection:
        return [[_cell(v) for v in row] for row in connection.execute(text(sql))]


async def _expectations(db: aipartnerupflow.Database, roots: list[str]) -> dict[str, Any]:
    repo = TaskRepository(db)
    trees = []
    for root_id in roots:
        root = await repo.get_task_by_id(root_id)
        entries = history(db, tree_id=root.tree_id)
        positions = [entry["position"] for entry in entries]
        # tree_at at a few positions of the stream, the first and last included.
        picks = sorted({positions[0], *positions[:: max(1, len(positions) // 6)], positions[-1]})
        snapshots = {}
        for position in picks:
            try:
                snapshots[str(position)] = tree_at(db, root_id, position=position).to_dict()
            except aipartnerupflow.TaskNotFoundError:
                snapshots[str(position)] = None
        trees.append(
            {
                "root_id": root_id,
                "tree_id": str(root.tree_id),
                "history": _plain(entries),
                "tree_at": _plain(snapshots),
            }
        )
    tasks = []
    for row in _rows(db, "SELECT id FROM tasks ORDER BY id"):
        tasks.append((await repo.get_task_by_id(row[0])).to_dict())
    return {"trees": trees, "tasks": _plain(tasks), "log_position": log_position(db)}


async def main(target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = create_session(path=Path(folder) / "golden.db")
        written = await _write_trees(db)
        expected = await _expectations(db, written["roots"])
        golden = {
            "written_by": aipartnerupflow.__version__,
            "events": _rows(
                db,
                "SELECT position, tree_id, version, task_id, timestamp, topic, state "
                "FROM event_log ORDER BY position",
            ),
            "snapshots": _rows(
                db,
                "SELECT tree_id, version, topic, state FROM event_snapshots "
                "ORDER BY tree_id, version",
            ),
            "expected": expected,
        }
        db.close()
    target.write_text(json.dumps(golden, sort_keys=True) + "\n")
    print(f"wrote {target}: {len(golden['events'])} events, {len(golden['snapshots'])} snapshots")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
