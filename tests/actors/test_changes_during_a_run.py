"""A task that has not started yet starts as the log has it then: a change made to it
while its tree runs (through the API, by anyone) is what its executor gets."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from aipartnerupflow import (
    BaseTask,
    Database,
    TaskCreator,
    TaskManager,
    TaskRepository,
    TaskStatus,
    get_registry,
)


class Editor(BaseTask):
    """Records the inputs it gets; with ``edit``, first changes that task's inputs."""

    id = "editor"
    name = "editor"
    description = "edits another task of its tree, then reports its own inputs"
    db: ClassVar[Database | None] = None
    seen: ClassVar[dict[str, dict[str, Any]]] = {}

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        assert Editor.db is not None
        if "edit" in inputs:
            await TaskRepository(Editor.db).update_task_inputs(
                inputs["edit"], {"me": inputs["edit"], "word": "changed"}
            )
        Editor.seen[inputs["me"]] = inputs
        return {}


@pytest.fixture(autouse=True)
def editor(db: Database):
    get_registry().register_executor(Editor)
    Editor.db, Editor.seen = db, {}
    yield
    get_registry().unregister_executor(Editor.id)
    Editor.db = None


async def test_a_pending_task_starts_with_the_inputs_it_was_given_during_the_run(
    db: Database,
) -> None:
    tree = await TaskCreator(db).create_task_tree_from_array(
        [
            {"id": "first", "name": "editor", "inputs": {"me": "first", "edit": "second"}},
            {
                "id": "second",
                "name": "editor",
                "parent_id": "first",
                "dependencies": ["first"],
                "inputs": {"me": "second", "word": "given"},
            },
        ]
    )
    summary = await TaskManager(db).run_tree(tree.task.id)
    assert summary["status"] == TaskStatus.COMPLETED
    assert Editor.seen["second"] == {"me": "second", "word": "changed", "first": {}}
    second = await TaskRepository(db).get_task_by_id("second")
    assert second is not None and second.inputs == Editor.seen["second"]
