"""Reads take no write lock and do not queue behind writes: while another process is in
the middle of a write, or while this process's database thread is busy, every read answers
with the last committed state (on SQLite, a read that took the write lock would wait for
that process, then fail with "database is locked")."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from support.server import rpc, serving

from aipartnerupflow import (
    ConcurrencyError,
    TaskCreator,
    TaskRepository,
    create_session,
    history,
    log_position,
    tree_at,
)
from aipartnerupflow.runtime.server import create_app

# Another process opens a write transaction through the library's own connections,
# changes a task without committing, and holds it until told to go on.
_HOLDER = """
import sys
from sqlalchemy import text
from aipartnerupflow import create_session
db = create_session(sys.argv[1])
with db.connections.begin() as connection:
    connection.execute(text("UPDATE tasks SET priority = 9 WHERE id = 'root'"))
    print("held", flush=True)
    sys.stdin.readline()
db.close()
"""


@contextmanager
def write_held_by_another_process(url: str) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("go\n", timeout=30)
    assert holder.returncode == 0


async def test_reads_answer_while_another_process_writes(db_url: str) -> None:
    db = create_session(db_url)
    try:
        await TaskCreator(db).create_task_tree_from_array(
            [{"id": "root", "name": "r"}, {"id": "leaf", "name": "l", "parent_id": "root"}]
        )
        repo = TaskRepository(db)
        end = log_position(db)
        with write_held_by_another_process(db_url):
            task = await repo.get_task_by_id("root")
            assert task is not None and task.priority == 1  # not the uncommitted 9
            assert [t.id for t in await repo.list_tasks()] == ["leaf", "root"]
            assert [t.id for t in (await repo.build_task_tree("root")).tasks()] == [
                "root",
                "leaf",
            ]
            assert log_position(db) == end
            assert tree_at(db, "root", position=end).children[0].task.id == "leaf"
            assert [e["type"] for e in history(db, task_id="leaf")] == ["created"]
        # Once the other process commits, reads see its change.
        task = await repo.get_task_by_id("root")
        assert task is not None and task.priority == 9
    finally:
        db.close()


def test_a_write_cannot_join_a_read(tmp_path: Path) -> None:
    db = create_session(f"sqlite:///{tmp_path}/tasks.db")
    try:

        def write_inside_read() -> None:
            with db.connections.read(), db.connections.begin() as connection:
                connection.execute(text("DELETE FROM tasks"))

        with pytest.raises(RuntimeError, match="cannot join"):
            db.call(write_inside_read)
    finally:
        db.close()


def test_a_read_inside_a_write_sees_what_it_wrote(tmp_path: Path) -> None:
    db = create_session(f"sqlite:///{tmp_path}/tasks.db")
    try:

        def read_inside_write() -> int:
            with db.connections.begin() as connection:
                connection.execute(text("CREATE TABLE scratch (n INTEGER)"))
                connection.execute(text("INSERT INTO scratch VALUES (1)"))
                with db.connections.read() as same:
                    assert same is connection
                    count: int = same.execute(text("SELECT count(*) FROM scratch")).scalar_one()
                    return count

        assert db.call(read_inside_write) == 1
    finally:
        db.close()


async def test_reads_do_not_wait_for_the_database_thread(db_url: str) -> None:
    db = create_session(db_url)
    busy, release = threading.Event(), threading.Event()
    try:
        await TaskCreator(db).create_task_tree_from_array([{"id": "root", "name": "r"}])
        repo = TaskRepository(db)
        end = log_position(db)
        held = db.submit(lambda: (busy.set(), release.wait()))
        busy.wait()
        answers: dict[str, object] = {}

        def read() -> None:
            answers["position"] = log_position(db)
            answers["tree"] = tree_at(db, "root").task.id
            answers["history"] = [e["type"] for e in history(db, task_id="root")]

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=60)  # milliseconds when reads do not queue behind the thread
        assert not reader.is_alive()
        assert answers == {"position": end, "tree": "root", "history": ["created"]}
        task = await asyncio.wait_for(repo.get_task_by_id("root"), 60)
        assert task is not None and task.id == "root"
        assert [t.id for t in await asyncio.wait_for(repo.list_tasks(), 60)] == ["root"]
        assert not held.done()
    finally:
        release.set()
        db.close()


async def test_a_write_kept_waiting_too_long_is_refused_and_records_nothing(
    tmp_path: Path,
) -> None:
    """SQLite gives up on another process's write lock after its busy timeout (10 s): the
    Python API raises ConcurrencyError, the JSON-RPC API answers -32002 and the command
    line prints one line, and nothing is recorded. (PostgreSQL waits for row locks.)"""
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    db = create_session(url)
    try:
        await TaskCreator(db).create_task_tree_from_array([{"id": "root", "name": "r"}])
        repo = TaskRepository(db)
        end = log_position(db)
        with (
            serving(lambda base: create_app(db, base_url=base, recover=False)) as base_url,
            write_held_by_another_process(url),
        ):
            # Opening the database (its tables all there) while another process writes
            # does not wait.
            create_session(url).close()
            cli = subprocess.Popen(
                [sys.executable, "-m", "aipartnerupflow", "--db", url, "tasks", "cancel", "root"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            refused, answer = await asyncio.gather(
                repo.update_task_priority("root", 5),
                rpc(base_url, "tasks.update", {"task_id": "root", "priority": 3}, timeout=120),
                return_exceptions=True,
            )
            out, err = cli.communicate(timeout=120)
        assert isinstance(refused, ConcurrencyError)
        assert isinstance(answer, dict) and answer["error"]["code"] == -32002, answer
        assert cli.returncode == 2 and out == ""
        assert err.startswith("error: another writer held the database") and err.count("\n") == 1
        assert log_position(db) == end
        task = await repo.get_task_by_id("root")
        assert task is not None and task.priority == 9  # the other process's commit alone
        assert task.status == "pending"
    finally:
        db.close()
