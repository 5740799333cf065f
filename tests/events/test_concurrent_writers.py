"""Several sessions append to one log at once: positions stay unique and contiguous, and
commit in order, so a reader never sees a position before all smaller ones."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import text

from aipartnerupflow import Database, TaskCreator, create_session

WRITERS = 3
TREES_PER_WRITER = 8


async def _plant(db: Database, writer: int) -> None:
    creator = TaskCreator(db)
    for n in range(TREES_PER_WRITER):
        prefix = f"w{writer}-{n}"
        await creator.create_task_tree_from_array(
            [
                {"id": f"{prefix}-r", "name": "r"},
                *(
                    {"id": f"{prefix}-{i}", "name": "c", "parent_id": f"{prefix}-r"}
                    for i in range(5)
                ),
            ]
        )


def _gaps_seen(db_url: str, stop: threading.Event, seen: list[tuple[int, int]]) -> None:
    reader = create_session(db_url)
    try:
        with reader.engine.connect() as connection:
            while not stop.is_set():
                last, count = connection.execute(
                    text("SELECT coalesce(max(position), 0), count(*) FROM event_log")
                ).one()
                connection.commit()
                if last != count:
                    seen.append((last, count))
    finally:
        reader.close()


def test_concurrent_writers_keep_positions_contiguous_and_in_commit_order(db_url: str) -> None:
    sessions = [create_session(db_url) for _ in range(WRITERS)]
    stop = threading.Event()
    gaps: list[tuple[int, int]] = []
    reader = threading.Thread(target=_gaps_seen, args=(db_url, stop, gaps))
    reader.start()
    try:
        writers = [
            threading.Thread(target=asyncio.run, args=(_plant(db, k),))
            for k, db in enumerate(sessions)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    finally:
        stop.set()
        reader.join()
    db = sessions[0]
    with db.engine.connect() as connection:
        positions = [row[0] for row in connection.execute(text("SELECT position FROM event_log"))]
        streams = connection.execute(
            text("SELECT tree_id, version, position FROM event_log ORDER BY tree_id, version")
        ).all()
    for session in sessions:
        session.close()
    events = WRITERS * TREES_PER_WRITER * 7  # the tree's creation and its six tasks
    assert sorted(positions) == list(range(1, events + 1))
    by_tree: dict[object, list[int]] = {}
    for tree_id, _, position in streams:
        by_tree.setdefault(tree_id, []).append(position)
    assert all(p == sorted(p) for p in by_tree.values())
    assert gaps == []
