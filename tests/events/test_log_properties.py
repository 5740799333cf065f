"""Properties of the log.

Under any sequence of valid and invalid commands on a fresh database,
(a) every refused command raises a ValueError subclass and leaves the log and the
    projection untouched (and a command that is invalid by construction is refused);
(b) rebuilding the projection from the log changes no row;
(c) time travel to any recorded position reproduces every tree exactly as it was then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st
from support.properties import Run, fresh_run, mostly

from aipartnerupflow import TaskStatus, log_position, rebuild_projections, tree_at

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
# None stands for no dependencies; a bare value, a dict or entries without ids are refused.
dependency_lists = tagged(
    st.one_of(st.none(), st.lists(refs, max_size=3)),
    st.sampled_from([3, "s1", {"id": "s1"}, [None], [3]]),
)


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
    st.tuples(st.just("dependencies"), refs, dependency_lists),
    st.tuples(st.just("status"), refs, statuses, progresses, results),
    st.tuples(st.just("status"), refs, statuses, progresses, results),
    st.tuples(st.just("delete"), refs),
    st.tuples(st.just("copy"), refs, st.booleans()),
    st.tuples(st.just("immutable"), refs, st.sampled_from(["parent_id", "user_id"])),
)


# ------------------------------------------------------------------- the model


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
        ((value, ok),) = rest
        if not ok:
            return partial(repo.update_task_dependencies, target, value), False
        deps = None if value is None else [run.task(d) for d in value]
        valid = known and "ghost" not in (deps or [])
        return partial(repo.update_task_dependencies, target, deps), valid
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


@given(st.lists(operations, min_size=10, max_size=40))
def test_log_projection_and_time_travel_agree(ops: list[tuple[Any, ...]]) -> None:
    """Refused commands leave no trace; rebuild and tree_at agree with every step."""
    with fresh_run() as run:
        # Snapshots every few events (the default waits for 1,000): time travel then
        # reads them, written incrementally, between folds of the events after them.
        run.db.log.snapshot_interval = 3
        run.run(run.creator.create_task_tree_from_array(START))
        run.steps.append((log_position(run.db), run.rows()))
        for op in ops:
            apply(run, op)
        check_log(run)
