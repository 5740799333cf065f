"""Helpers of the property tests (this module holds no tests): one fresh database and
event loop per Hypothesis example, and a bias towards the common case."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

from aipartnerupflow import Database, TaskCreator, TaskRepository, create_session

T = TypeVar("T")
Rows = dict[str, dict[str, Any]]


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """``common`` four times out of five, else ``rare`` (shrinking towards ``common``)."""
    return st.sampled_from(range(5)).flatmap(lambda n: rare if n == 4 else common)


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
