"""Properties of the creator: any task array, well-formed or spoiled, is recorded whole
or not at all."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st
from support.properties import fresh_run, mostly

from aipartnerupflow import log_position

junk = st.sampled_from([None, 5, "", " ", ["x"], {"k": 1}, True, -1, 1.5, {"s": {1}}, "zz"])
ARRAY_KEYS = [
    *("id", "name", "parent_id", "dependencies", "priority"),
    *("inputs", "params", "schemas", "user_id", "colour"),
]


@st.composite
def task_arrays(draw: st.DrawFn) -> Any:
    """A tree of up to five tasks, with ids or names as references, dependencies mostly on
    earlier tasks (else maybe cyclic), possibly spoiled (a field set to junk or to another
    reference), shuffled; now and then not an array at all."""
    size = draw(st.integers(1, 5))
    with_ids = draw(st.booleans())
    keys = [f"k{i}" for i in range(size)]
    tasks: list[dict[str, Any]] = []
    for index, key in enumerate(keys):
        task: dict[str, Any] = {"name": key, **({"id": key} if with_ids else {})}
        if index:
            task["parent_id"] = keys[draw(st.integers(0, index - 1))]
        others = st.sampled_from([k for k in keys if k != key]) if size > 1 else st.nothing()
        targets = mostly(st.sampled_from(keys[:index]), others) if index else others
        deps = draw(st.lists(targets, max_size=2 if size > 1 else 0, unique=True))
        if deps:
            task["dependencies"] = deps
        tasks.append(task)
    for _ in range(draw(st.integers(0, 2))):
        task = tasks[draw(st.integers(0, size - 1))]
        task[draw(st.sampled_from(ARRAY_KEYS))] = draw(st.one_of(junk, st.sampled_from(keys)))
    return draw(mostly(st.permutations(tasks), junk))


@given(task_arrays())
def test_task_arrays_are_all_or_nothing(tasks: Any) -> None:
    """An array is either refused with a ValueError, leaving the log and the tasks as they
    were, or recorded whole as one new tree holding exactly its tasks."""
    with fresh_run() as run:
        run.run(run.repo.create_task(name="already there", id="k3"))
        before = (log_position(run.db), run.rows())
        try:
            node = run.run(run.creator.create_task_tree_from_array(tasks))
        except Exception as exc:
            assert isinstance(exc, ValueError), f"{exc!r} is not a ValueError"
            assert (log_position(run.db), run.rows()) == before
            event(f"refused ({type(exc).__name__})")
            return
        event("accepted")
        created = {t.id: t.to_dict() for t in node.tasks()}
        assert len(created) == len(tasks)
        assert {row["tree_id"] for row in created.values()} == {str(node.task.tree_id)}
        assert run.rows() == {**before[1], **created}
        assert sorted(t.name for t in node.tasks()) == sorted(t["name"] for t in tasks)
