"""Who owns a running tree: one lease row per tree, with a fencing token.

A process runs a tree only while it holds the tree's lease: an owner id, an expiry on
the database's clock, and a token that grows by one at every change of owner. The owner
renews the lease in the background, and every commit of the tree's events checks the
token inside the same transaction (``check``), so an owner that lost its lease (paused,
partitioned, slow) can never write again: its commit fails before anything is stored.

A lease row also says what should happen to a tree nobody holds: ``queued`` (submitted,
or released by a graceful shutdown: any process may take it now), ``running`` (owned; a
crashed owner's tree becomes claimable when the lease expires) or ``idle`` (finished; the
row stays so that tokens keep growing across runs).

Requests to a tree's owner from other processes (cancel, input) are rows of
``tree_requests``, answered by the owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    and_,
    delete,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from aipartnerupflow.errors import LeaseLostError
from aipartnerupflow.events.store.bulk import prebuilt_read

lease_metadata = MetaData()

leases_table = Table(
    "tree_leases",
    lease_metadata,
    Column("tree_id", Uuid, primary_key=True),
    Column("root_task_id", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("owner", String(255)),
    Column("token", BigInteger, nullable=False),
    # Seconds since the epoch, on the database's clock: hosts need not agree on time.
    Column("expires_at", Float),
    Column("queued_at", Float),
    Index("ix_tree_leases_state", "state", "queued_at"),
)

requests_table = Table(
    "tree_requests",
    lease_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("answer", Text),
    Index("ix_tree_requests_tree", "tree_id"),
)

QUEUED, RUNNING, IDLE = "queued", "running", "idle"


@dataclass(frozen=True)
class Lease:
    """A held lease: the tree, who holds it and the token its commits must carry."""

    tree_id: UUID
    root_task_id: str
    owner: str
    token: int


def database_now(connection: Connection) -> ColumnElement[float]:
    """The database server's clock, in seconds since the epoch."""
    if connection.dialect.name == "sqlite":
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)")
    return literal_column("extract(epoch from clock_timestamp())")


def _locked(connection: Connection, query: Any) -> Any:
    # SQLite's write transactions already exclude each other (BEGIN IMMEDIATE).
    return query.with_for_update() if connection.dialect.name == "postgresql" else query


def acquire(
    connection: Connection, tree_id: UUID, root_task_id: str, owner: str, ttl: float
) -> Lease | None:
    """Take the tree's lease unless a live owner other than ``owner`` holds it.

    A new owner gets the next token; the same owner keeps its token and renews.
    """
    c = leases_table.c
    now = database_now(connection)
    row = connection.execute(
        _locked(connection, select(c.owner, c.token, c.expires_at, now).where(c.tree_id == tree_id))
    ).first()
    if row is None:
        inserted = connection.execute(
            _insert_ignoring_conflict(connection).values(
                tree_id=tree_id,
                root_task_id=root_task_id,
                state=RUNNING,
                owner=owner,
                token=1,
                expires_at=now + ttl,
            )
        )
        if inserted.rowcount == 1:
            return Lease(tree_id, root_task_id, owner, 1)
        return acquire(connection, tree_id, root_task_id, owner, ttl)  # lost a race: look again
    held_by, token, expires_at, clock = row
    if held_by == owner:
        connection.execute(
            update(leases_table)
            .where(c.tree_id == tree_id)
            .values(state=RUNNING, expires_at=now + ttl)
        )
        return Lease(tree_id, root_task_id, owner, token)
    if held_by is not None and expires_at is not None and expires_at > clock:
        return None
    connection.execute(
        update(leases_table)
        .where(c.tree_id == tree_id)
        .values(state=RUNNING, owner=owner, token=token + 1, expires_at=now + ttl)
    )
    return Lease(tree_id, root_task_id, owner, token + 1)


def _insert_ignoring_conflict(connection: Connection) -> Any:
    dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(leases_table).on_conflict_do_nothing(index_elements=["tree_id"])


@cache
def check(connection: Connection, lease: Lease) -> None:
    """Raise LeaseLostError unless ``lease`` is still the tree's current one.

    Runs inside the transaction that commits the tree's events; on PostgreSQL the row
    stays locked until that commit, so no takeover can slip in between.
    """
    dialect = connection.dialect
    # Prebuilt and run on the driver's cursor: every commit of a running tree runs it.
    read = prebuilt_read(
        leases_table,
        ("owner", "token"),
        (("tree_id", "="),),
        dialect,
        for_update=dialect.name == "postgresql",
    )
    rows = read.rows(connection, lease.tree_id)
    if not rows or rows[0][0] != lease.owner or rows[0][1] != lease.token:
        raise LeaseLostError(
            f"tree {lease.tree_id} is no longer owned by {lease.owner} (token {lease.token}): "
            "another process took it over"
        )


def renew(connection: Connection, leases: Sequence[Lease], ttl: float) -> list[Lease]:
    """Extend every lease still held; returns those that were lost."""
    c = leases_table.c
    now = database_now(connection)
    lost = []
    for lease in leases:
        done = connection.execute(
            update(leases_table)
            .where(c.tree_id == lease.tree_id, c.owner == lease.owner, c.token == lease.token)
            .values(expires_at=now + ttl)
        )
        if done.rowcount != 1:
            lost.append(lease)
    return lost


def release(connection: Connection, lease: Lease, state: str) -> bool:
    """Give the lease up, leaving the tree ``idle`` (done) or ``queued`` (to resume)."""
    c = leases_table.c
    now = database_now(connection)
    done = connection.execute(
        update(leases_table)
        .where(c.tree_id == lease.tree_id, c.owner == lease.owner, c.token == lease.token)
        .values(
            state=state, owner=None, expires_at=None, queued_at=now if state == QUEUED else None
        )
    )
    return done.rowcount == 1


def enqueue(connection: Connection, tree_id: UUID, root_task_id: str) -> None:
    """Mark a tree as waiting for any process to run it (it keeps its token)."""
    c = leases_table.c
    now = database_now(connection)
    changed = connection.execute(
        update(leases_table)
        .where(c.tree_id == tree_id, or_(c.owner.is_(None), c.expires_at < now))
        .values(state=QUEUED, owner=None, expires_at=None, queued_at=now)
    )
    if changed.rowcount == 0:
        connection.execute(
            _insert_ignoring_conflict(connection).values(
                tree_id=tree_id, root_task_id=root_task_id, state=QUEUED, token=0, queued_at=now
            )
        )


def claimable(connection: Connection, limit: int | None = None) -> list[tuple[UUID, str]]:
    """Trees waiting for an owner: queued ones first (oldest first), then running trees
    whose owner's lease expired. Rows are locked and skipped by other claimers on
    PostgreSQL, so concurrent claimers never pick the same tree."""
    c = leases_table.c
    now = database_now(connection)
    query = (
        select(c.tree_id, c.root_task_id)
        .where(
            or_(
                and_(c.state == QUEUED, c.owner.is_(None)),
                and_(c.state == RUNNING, or_(c.owner.is_(None), c.expires_at < now)),
            )
        )
        .order_by(c.queued_at.is_(None), c.queued_at)
    )
    if limit is not None:
        query = query.limit(limit)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [(row.tree_id, row.root_task_id) for row in connection.execute(query)]


def state_of(connection: Connection, tree_id: UUID) -> str | None:
    """The tree's lease state (queued, running, idle), or None when it has no lease row."""
    c = leases_table.c
    return connection.execute(select(c.state).where(c.tree_id == tree_id)).scalar()


def holder(connection: Connection, tree_id: UUID) -> str | None:
    """The live owner of the tree's lease, or None when nobody holds it."""
    c = leases_table.c
    now = database_now(connection)
    row = connection.execute(
        select(c.owner).where(c.tree_id == tree_id, c.owner.is_not(None), c.expires_at >= now)
    ).first()
    return None if row is None else row.owner


def post_request(connection: Connection, tree_id: UUID, kind: str, body: dict[str, Any]) -> int:
    """Leave a request for the tree's owner; returns its id."""
    result = connection.execute(
        insert(requests_table).values(tree_id=tree_id, kind=kind, body=json.dumps(body))
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def open_requests(
    connection: Connection, tree_ids: Sequence[UUID]
) -> list[tuple[int, UUID, str, dict[str, Any]]]:
    """Unanswered requests to the given trees, oldest first."""
    if not tree_ids:
        return []
    c = requests_table.c
    rows = connection.execute(
        select(c.id, c.tree_id, c.kind, c.body)
        .where(c.tree_id.in_(list(tree_ids)), c.answer.is_(None))
        .order_by(c.id)
    )
    return [(row.id, row.tree_id, row.kind, json.loads(row.body)) for row in rows]


#: What ``answer`` holds while the owner works on a request: JSON null, not SQL NULL.
_TAKEN = "null"


def take_request(connection: Connection, request_id: int) -> None:
    """Mark a request as being handled, so it is delivered once."""
    connection.execute(
        update(requests_table).where(requests_table.c.id == request_id).values(answer=_TAKEN)
    )


def answer_request(connection: Connection, request_id: int, answer: Mapping[str, Any]) -> None:
    connection.execute(
        update(requests_table)
        .where(requests_table.c.id == request_id)
        .values(answer=json.dumps(answer, default=str))
    )


def take_answer(connection: Connection, request_id: int) -> dict[str, Any] | None:
    """The owner's answer to a request (the request is then removed), or None yet."""
    c = requests_table.c
    row = connection.execute(select(c.answer).where(c.id == request_id)).first()
    if row is None or row.answer is None or row.answer == _TAKEN:
        return None
    connection.execute(delete(requests_table).where(c.id == request_id))
    answer: dict[str, Any] = json.loads(row.answer)
    return answer
