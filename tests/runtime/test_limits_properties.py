"""Property: on every database, any create, update or status command with wide inputs is
either stored and read back equal, or refused with a TaskValidationError leaving the log
and the tables as they were."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.data import log_state

from aipartnerupflow import Database, TaskCreator, TaskRepository, TaskStatus, TaskValidationError
from aipartnerupflow.events.domain.validation import clean_message

# Every code point, surrogates included, with NULs and the edges of the key length often.
any_char = st.characters(exclude_categories=())
text = st.one_of(
    st.text(any_char, max_size=6),
    st.sampled_from(["\x00", "a\x00", "\ud800", "\udfff x", "é", "\\u0000"]),
    st.integers(250, 260).map(lambda n: "k" * n),
)
ints = st.one_of(
    st.integers(),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, -1]),
)
leaves = st.one_of(st.none(), st.booleans(), ints, st.floats(), text)


def _nest(leaf: Any, depth: int) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


json_values = st.one_of(
    st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=10,
    ),
    st.builds(_nest, leaves, st.integers(55, 70)),
)
objects = st.dictionaries(text, json_values, max_size=3)

commands = st.one_of(
    st.tuples(
        st.just("create"),
        st.fixed_dictionaries(
            {},
            optional={
                "name": text,
                "user_id": text,
                "priority": ints,
                "inputs": objects,
                "params": objects,
                "schemas": objects,
            },
        ),
    ),
    st.tuples(st.just("tree"), st.tuples(text, text, objects)),
    st.tuples(st.just("name"), text),
    st.tuples(st.just("priority"), ints),
    st.tuples(st.just("inputs"), objects),
    st.tuples(st.just("result"), json_values),
    st.tuples(st.just("error"), text),
)

_ids = itertools.count()


async def _apply(repo: TaskRepository, creator: TaskCreator, kind: str, value: Any) -> Any:
    """Run one command; return what must read back (``{id: {column: value}}``)."""
    if kind == "create":
        task_id = f"c{next(_ids)}"
        fields = {"name": "task", **value}
        await repo.create_task(id=task_id, **fields)
        return {task_id: fields}
    if kind == "tree":
        name, child_name, inputs = value
        root, child = f"t{next(_ids)}", f"t{next(_ids)}"
        await creator.create_task_tree_from_array(
            [
                {"id": root, "name": name},
                {"id": child, "name": child_name, "parent_id": root, "inputs": inputs},
            ]
        )
        return {root: {"name": name}, child: {"name": child_name, "inputs": inputs}}
    if kind == "result":
        await repo.update_task_status("base", TaskStatus.COMPLETED, result=value)
        return {"base": {"result": value}}
    if kind == "error":
        await repo.update_task_status("base", TaskStatus.FAILED, error=value)
        return {"base": {"error": clean_message(value)}}
    await repo.update_task_field("base", kind, value)
    return {"base": {kind: value}}


async def _check(db: Database, kind: str, value: Any) -> None:
    repo, creator = TaskRepository(db), TaskCreator(db)
    if await repo.get_task_by_id("base") is None:
        await repo.create_task(name="base", id="base")
    await repo.update_task_status("base", TaskStatus.PENDING)
    before = await log_state(db, repo)
    try:
        expected = await _apply(repo, creator, kind, value)
    except TaskValidationError as exc:
        event(f"{kind} refused: {type(exc).__name__}")
        assert await log_state(db, repo) == before, f"{kind} was refused but wrote"
        return
    event(f"{kind} accepted")
    for task_id, fields in expected.items():
        stored = await repo.get_task_by_id(task_id)
        assert stored is not None
        for column, wanted in fields.items():
            assert getattr(stored, column) == wanted, column


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=commands)
def test_wide_inputs_are_stored_equal_or_refused_without_a_trace(
    db: Database, command: tuple[str, Any]
) -> None:
    asyncio.run(_check(db, *command))
