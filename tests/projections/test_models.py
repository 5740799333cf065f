"""TaskModel values made from a state: plain to read, full ORM objects once asked to be."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, inspect

from aipartnerupflow.events.domain.tree import TASK_COLUMNS
from aipartnerupflow.projections.models import TaskModel

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def state(task_id: str = "t1") -> dict:
    values = {column: None for column in TASK_COLUMNS}
    values.update(
        id=task_id,
        name="task",
        status="pending",
        priority=1,
        dependencies=[],
        inputs={"n": 1},
        params={},
        schemas={},
        progress=0.0,
        has_children=False,
        has_copy=False,
        attempt=0,
        created_at=NOW,
        updated_at=NOW,
    )
    return values


def test_a_detached_model_reads_its_columns_and_owns_its_values() -> None:
    tree_id = uuid.uuid4()
    source = state()
    model = TaskModel.detached_copy(source, tree_id)
    assert (model.id, model.name, model.inputs, model.tree_id) == ("t1", "task", {"n": 1}, tree_id)
    model.inputs["n"] = 2
    assert source["inputs"] == {"n": 1} and "tree_id" not in source
    assert model.to_dict()["created_at"] == NOW.isoformat()


def test_a_detached_model_gets_its_orm_state_on_first_use() -> None:
    model = TaskModel.detached_copy(state(), uuid.uuid4())
    assert "_sa_instance_state" not in model.__dict__
    assert inspect(model).transient
    model.name = "renamed"
    assert model.name == "renamed"
    assert inspect(model) is inspect(model)


def test_a_constructed_model_is_initialised_by_sqlalchemy() -> None:
    seen: list[dict] = []

    def on_init(target: TaskModel, args: tuple, kwargs: dict) -> None:
        seen.append(kwargs)

    event.listen(TaskModel, "init", on_init)
    try:
        model = TaskModel(id="t2", name="built")
    finally:
        event.remove(TaskModel, "init", on_init)
    assert seen == [{"id": "t2", "name": "built"}]
    assert inspect(model).transient
    assert model.name == "built"


def test_a_misspelt_attribute_is_still_an_attribute_error() -> None:
    model = TaskModel.detached_copy(state(), uuid.uuid4())
    with pytest.raises(AttributeError, match="nmae"):
        _ = model.nmae  # type: ignore[attr-defined]
