"""Database sessions: one database holds the event log and the projections."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from aipartnerupflow.actors.ownership import DEFAULT_TTL, Ownership
from aipartnerupflow.events.store.database import LogDatabase
from aipartnerupflow.projections.models import ProjectionBase
from aipartnerupflow.projections.projector import project

DATABASE_URL_ENV = "AIPARTNERUPFLOW_DATABASE_URL"


class Database(LogDatabase):
    """A database session: the event log with the projections kept in step with it."""

    def __init__(self, url: str, *, lease_ttl: float = DEFAULT_TTL, **engine_kwargs: Any) -> None:
        super().__init__(
            url, schemas=(ProjectionBase.metadata,), listeners=(project,), **engine_kwargs
        )
        self.lease_ttl = lease_ttl
        self._ownership: Ownership | None = None
        self._ownership_lock = threading.Lock()

    @property
    def ownership(self) -> Ownership:
        """This process's leases on the trees of this database (one owner id per session)."""
        with self._ownership_lock:
            if self._ownership is None:
                self._ownership = Ownership(self, ttl=self.lease_ttl)
            return self._ownership


def default_database_path() -> Path:
    """``$XDG_DATA_HOME/aipartnerupflow/aipartnerupflow.db`` (``~/.local/share`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aipartnerupflow" / "aipartnerupflow.db"


def _url_for(connection_string: str | None, path: str | os.PathLike[str] | None) -> str:
    if connection_string is not None and path is not None:
        raise ValueError("give either connection_string or path, not both")
    if connection_string is not None:
        return connection_string
    if path is not None:
        if str(path) == ":memory:":
            return "sqlite://"
        file = Path(path).expanduser().resolve()
        file.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{file}"
    if os.environ.get(DATABASE_URL_ENV):
        return os.environ[DATABASE_URL_ENV]
    file = default_database_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def create_session(
    connection_string: str | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    lease_ttl: float = DEFAULT_TTL,
    **engine_kwargs: Any,
) -> Database:
    """Open a database: a SQLAlchemy URL, an SQLite file (``":memory:"`` allowed), or by
    default ``$AIPARTNERUPFLOW_DATABASE_URL`` or an SQLite file in the user's data directory.

    ``lease_ttl`` is how many seconds a tree this process runs stays its own without
    renewal: after a crash, other processes resume its trees once that time has passed."""
    return Database(_url_for(connection_string, path), lease_ttl=lease_ttl, **engine_kwargs)


_default: Database | None = None
_default_lock = threading.Lock()


def get_default_session() -> Database:
    """The process-wide session on the default database, opened on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = create_session()
        return _default
