"""Properties of the log.

Under any sequence of valid and invalid commands on a fresh database,
(a) every refused command raises a ValueError subclass and leaves the log and the
    projection untouched (and a command that is invalid by construction is refused);
(b) rebuilding the projection from the log changes no row;
(c) time travel to any recorded position reproduces every tree exactly as it was then.

And any task array, well-formed or spoiled, is recorded whole or not at all.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import event, given
from hypothesis import strategies as st

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskRepository,
    TaskStatus,
    create_session,
    log_position,
    rebuild_projections,
    tree_at,
)

T = TypeVar("T")
Rows = dict[str, dict[str, Any]]

# ------------------------------------------------------------------- strategies
#
# Values come tagged: (value, True) when valid, (value, False) when invalid by
# construction. Task references are indices into the live tasks (taken modulo their
# number); None stands for a task that does not exist.

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),  # stored as a list
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
        st.dictionaries(st.integers(0, 9), inner, max_size=2),  # keys stored as text
    ),
    max_leaves=6,
)
mappings = st.dictionaries(st.text(max_size=4), json_values, max_size=3)
not_json = st.sampled_from(
    [{"s": {1, 2}}, {"n": 2**64}, {"f": float("nan")}, {"o": object()}, {"inf": float("inf")}]
)


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """``common`` four times out of five, else ``rare`` (shrinking towards ``common``)."""
    return st.sampled_from(range(5)).flatmap(lambda n: rare if n == 4 else common)


def tagged(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> Any:
    return mostly(valid.map(lambda v: (v, True)), invalid.map(lambda v: (v, False)))


VALID = {
    "name": st.text(min_size=1, max_size=6).filter(str.strip),
    "priority": st.integers(0, 5),
    "inputs": mappings,
    "params": mappings,
    "schemas": mappings,
}
INVALID = {
    "name": st.sampled_from(["", "  ", 7, None, ["n"]]),
    "priority": st.sampled_from([-1, "high", True, 1.5, None]),
    "inputs": st.one_of(not_json, st.sampled_from([[1], "x", 3, {1: "a"}])),
    "params": not_json,
    "schemas": not_json,
}
field_values = st.sampled_from(sorted(VALID)).flatmap(
    lambda column: tagged(VALID[column], INVALID[column]).map(lambda value: (column, value))
)
refs = mostly(st.integers(0, 40), st.none())
statuses = tagged(st.sampled_from(TaskStatus.ALL), st.sampled_from(["bogus", "", "PENDING"]))
progresses = tagged(
    st.one_of(st.none(), st.floats(0.0, 1.0)), st.sampled_from([1.5, -0.1, float("nan"), "x"])
)
results = tagged(st.one_of(st.none(), json_values), not_json)


def creates(spoiled: bool) -> Any:
    """Creates of a new task: well-formed ones, or ones that may carry bad values, an id
    that is taken (or was deleted), an unknown parent or dependency."""
    fields = [
        tagged(VALID[f], INVALID[f]) if spoiled else VALID[f].map(lambda v: (v, True))
        for f in ("name", "priority", "inputs")
    ]
    return st.tuples(
        st.just("create"),
        mostly(st.integers(0, 40), st.just("new tree")) if not spoiled else refs,  # parent
        mostly(st.just([]), st.lists(refs, min_size=1, max_size=2)),  # dependencies
        *fields,
        st.sampled_from(["fresh", "existing", "recycled"]) if spoiled else st.just("fresh"),
    )


operations = st.one_of(
    mostly(creates(spoiled=False), creates(spoiled=True)),
    mostly(creates(spoiled=False), creates(spoiled=True)),
    st.tuples(st.just("update"), refs, field_values),
    st.tuples(st.just("update"), refs, field_values),
    st.tuples(st.just("dependencies"), refs, st.lists(refs, max_size=3)),
    st.tuples(st.just("status"), refs, statuses, progresses, results),
    st.tuples(st.just("status"), refs, statuses, progresses, results),
    st.tuples(st.just("delete"), refs),
    st.tuples(st.just("copy"), refs, st.booleans()),
    st.tuples(st.just("immutable"), refs, st.sampled_from(["parent_id", "user_id"])),
)


# ------------------------------------------------------------------- the model


@dataclass
class Run:
    """One example: a fresh database, its event loop, and what every step left."""

    db: Database
    loop: asyncio.AbstractEventLoop
    steps: list[tuple[int, Rows]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # ids deleted so far, to reuse
    counter: int = 0

    def __post_init__(self) -> None:
        self.repo = TaskRepository(self.db)
        self.creator = TaskCreator(self.db)

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def rows(self) -> Rows:
        return {t.id: t.to_dict() for t in self.run(self.repo.list_tasks(limit=10**6))}

    def live_ids(self) -> list[str]:
        return sorted(self.steps[-1][1]) if self.steps else []

    def task(self, ref: int | None) -> str:
        """The live task a reference picks, or an id that does not exist."""
        live = self.live_ids()
        return "ghost" if ref is None or not live else live[ref % len(live)]

    def new_id(self, kind: str) -> tuple[str, bool]:
        """An id for a new task and whether using it can be valid."""
        live = self.live_ids()
        if kind == "existing" and live:
            return live[self.counter % len(live)], False
        if kind == "recycled" and self.deleted:
            return self.deleted[self.counter % len(self.deleted)], True
        self.counter += 1
        return f"t{self.counter}", True


def command(run: Run, op: tuple[Any, ...]) -> tuple[Callable[[], Awaitable[Any]], bool]:
    """The call an operation stands for, and whether it may be valid (False: it is
    invalid by construction and must be refused)."""
    kind, ref, *rest = op
    repo = run.repo
    if kind == "create":
        deps_refs, (name, ok_name), (priority, ok_prio), (inputs, ok_in), id_kind = rest
        parent = None if ref == "new tree" else run.task(ref)
        deps = [run.task(d) for d in deps_refs]
        task_id, ok_id = run.new_id(id_kind)
        call = partial(
            repo.create_task,
            name=name,
            id=task_id,
            parent_id=parent,
            dependencies=deps,
            priority=priority,
            inputs=inputs,
        )
        valid_refs = parent != "ghost" and "ghost" not in deps and (parent or not deps)
        return call, ok_name and ok_prio and ok_in and ok_id and bool(valid_refs)
    target = run.task(ref)
    known = target != "ghost"
    if kind == "update":
        ((column, (value, ok)),) = rest
        return partial(repo.update_task_field, target, column, value), known and ok
    if kind == "dependencies":
        deps = [run.task(d) for d in rest[0]]
        return partial(repo.update_task_dependencies, target, deps), known and "ghost" not in deps
    if kind == "status":
        (status, ok_status), (progress, ok_progress), (result, ok_result) = rest
        call = partial(repo.update_task_status, target, status, progress=progress, result=result)
        return call, known and ok_status and ok_progress and ok_result
    if kind == "delete":  # an unknown id is not refused: the answer is False
        return partial(repo.delete_task, target), True
    if kind == "copy":
        return partial(run.creator.create_task_copy, target, children=rest[0]), known
    assert kind == "immutable"
    return partial(repo.update_task_field, target, rest[0], "changed"), False


def apply(run: Run, op: tuple[Any, ...]) -> None:
    """Run one operation; a refused one must be a ValueError that changed nothing."""
    before = (log_position(run.db), run.steps[-1][1] if run.steps else {})
    call, may_be_valid = command(run, op)
    try:
        run.run(call())
    except Exception as exc:
        assert isinstance(exc, ValueError), f"{op}: {exc!r} is not a ValueError"
        assert (log_position(run.db), run.rows()) == before, f"{op} was refused but wrote"
        event(f"{op[0]}: refused ({type(exc).__name__})")
    else:
        assert may_be_valid, f"{op} is invalid but was accepted"
        event(f"{op[0]}: accepted")
    rows = run.rows()
    run.deleted.extend(sorted(set(before[1]) - set(rows)))
    run.steps.append((log_position(run.db), rows))


def check_log(run: Run) -> None:
    """(b) the rebuild changes nothing; (c) tree_at reproduces every step of every tree."""
    final = run.steps[-1][1]
    event(f"tasks at the end: {min(len(final) // 5 * 5, 20)}+")
    assert rebuild_projections(run.db) == len(final)
    assert run.rows() == final
    for position, rows in run.steps:
        for root in (tid for tid, row in rows.items() if row["parent_id"] is None):
            tree_id = rows[root]["tree_id"]
            expected = {tid: row for tid, row in rows.items() if row["tree_id"] == tree_id}
            replayed = {t.id: t.to_dict() for t in tree_at(run.db, root, position=position).tasks()}
            assert replayed == expected, f"tree {root} differs at position {position}"


#: Every example starts from this tree: a root, children, a grandchild, dependencies.
START = [
    {"id": "s0", "name": "root", "user_id": "u"},
    {"id": "s1", "name": "first", "parent_id": "s0"},
    {"id": "s2", "name": "second", "parent_id": "s0", "dependencies": ["s1"]},
    {"id": "s3", "name": "grandchild", "parent_id": "s1", "inputs": {"k": [1]}},
    {"id": "s4", "name": "third", "parent_id": "s0", "dependencies": ["s2", "s3"]},
]


@contextmanager
def fresh_run() -> Iterator[Run]:
    """A new database file and event loop for one example."""
    with tempfile.TemporaryDirectory() as tmp:
        loop = asyncio.new_event_loop()
        db = create_session(path=Path(tmp) / "props.db")
        try:
            yield Run(db, loop)
        finally:
            db.close()
            loop.close()


@given(st.lists(operations, min_size=10, max_size=40))
def test_log_projection_and_time_travel_agree(ops: list[tuple[Any, ...]]) -> None:
    """Refused commands leave no trace; rebuild and tree_at agree with every step."""
    with fresh_run() as run:
        run.run(run.creator.create_task_tree_from_array(START))
        run.steps.append((log_position(run.db), run.rows()))
        for op in ops:
            apply(run, op)
        check_log(run)


# ----------------------------------------------------------------- task arrays

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
