"""Tree leases on a real database: one owner at a time, fencing tokens that only grow,
claims that never hand one tree to two processes."""

from __future__ import annotations

import uuid

import pytest

from aipartnerupflow import Database, LeaseLostError, TaskCreator, log_position
from aipartnerupflow.events.store import leases
from aipartnerupflow.events.store.leases import IDLE, QUEUED, Lease


def _acquire(db: Database, tree_id: uuid.UUID, owner: str, ttl: float = 30) -> Lease | None:
    with db.engine.begin() as connection:
        return leases.acquire(connection, tree_id, "root", owner, ttl)


def test_a_live_lease_keeps_other_owners_out(db: Database) -> None:
    tree = uuid.uuid4()
    first = _acquire(db, tree, "a")
    assert first is not None and first.token == 1
    assert _acquire(db, tree, "b") is None
    again = _acquire(db, tree, "a")
    assert again == first  # the owner renews, keeping its token


def test_an_expired_lease_is_taken_over_with_a_greater_token(db: Database) -> None:
    tree = uuid.uuid4()
    first = _acquire(db, tree, "a", ttl=-1)  # already expired
    assert first is not None
    second = _acquire(db, tree, "b")
    assert second is not None and second.token == first.token + 1
    with db.engine.begin() as connection:
        with pytest.raises(LeaseLostError):
            leases.check(connection, first)
        leases.check(connection, second)
        assert leases.renew(connection, [first, second], 30) == [first]
        assert leases.holder(connection, tree) == "b"


def test_tokens_keep_growing_across_runs(db: Database) -> None:
    tree = uuid.uuid4()
    tokens = []
    for owner in ("a", "b", "a"):
        lease = _acquire(db, tree, owner)
        assert lease is not None
        tokens.append(lease.token)
        with db.engine.begin() as connection:
            assert leases.release(connection, lease, IDLE)
    assert tokens == [1, 2, 3]


async def test_a_stale_owner_records_nothing(db: Database) -> None:
    root = await TaskCreator(db).create_task_tree_from_array([{"id": "r", "name": "r"}])
    tree_id = root.task.tree_id
    stale = _acquire(db, tree_id, "a", ttl=-1)
    assert stale is not None and _acquire(db, tree_id, "b") is not None
    before = log_position(db)

    def rename(work: object) -> None:
        work.tree(tree_id).update_field("r", "name", "renamed", {})  # type: ignore[attr-defined]

    with pytest.raises(LeaseLostError):
        db.call(db.log.run, rename, lease=stale)
    assert log_position(db) == before
    assert db.call(db.log.load, tree_id).tasks["r"]["name"] == "r"


def test_claimable_trees_are_queued_ones_then_orphans(db: Database) -> None:
    live, orphan, done, queued = (uuid.uuid4() for _ in range(4))
    assert _acquire(db, live, "a") is not None
    assert _acquire(db, orphan, "a", ttl=-1) is not None
    finished = _acquire(db, done, "a")
    assert finished is not None
    with db.engine.begin() as connection:
        leases.release(connection, finished, IDLE)
        leases.enqueue(connection, queued, "root")
        assert [tree for tree, _ in leases.claimable(connection)] == [queued, orphan]


def test_a_released_tree_can_be_queued_for_another_process(db: Database) -> None:
    tree = uuid.uuid4()
    lease = _acquire(db, tree, "a")
    assert lease is not None
    with db.engine.begin() as connection:
        leases.release(connection, lease, QUEUED)
        assert [t for t, _ in leases.claimable(connection)] == [tree]
    taken = _acquire(db, tree, "b")
    assert taken is not None and taken.token == 2


def test_requests_reach_the_owner_and_answers_come_back(db: Database) -> None:
    tree = uuid.uuid4()
    with db.engine.begin() as connection:
        request = leases.post_request(connection, tree, "cancel", {"task_id": "t"})
        assert leases.take_answer(connection, request) is None
        [(found, tree_id, kind, body)] = leases.open_requests(connection, [tree])
        assert (found, tree_id, kind, body) == (request, tree, "cancel", {"task_id": "t"})
        leases.take_request(connection, request)
        assert leases.open_requests(connection, [tree]) == []
        assert leases.take_answer(connection, request) is None
        leases.answer_request(connection, request, {"status": "cancelled"})
        assert leases.open_requests(connection, [tree]) == []
        assert leases.take_answer(connection, request) == {"status": "cancelled"}


def test_concurrent_claimers_never_get_the_same_tree(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: claims cannot overlap")
    trees = [uuid.uuid4() for _ in range(2)]
    with db.engine.begin() as connection:
        for tree in trees:
            leases.enqueue(connection, tree, "root")
    with (
        db.engine.connect() as first,
        db.engine.connect() as second,
        first.begin(),
        second.begin(),
    ):
        one = leases.claimable(first, limit=1)
        other = leases.claimable(second, limit=1)
    assert {one[0][0], other[0][0]} == set(trees)
