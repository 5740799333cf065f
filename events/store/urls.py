"""Database URLs as users write them, turned into the driver the project installs.

``postgresql://`` and ``postgres://`` (what every PostgreSQL tool prints) mean psycopg 3,
the driver of the ``postgres`` extra; a URL that names its driver keeps it.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from aipartnerupflow.errors import DatabaseConfigError

_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def resolve_url(url: str) -> URL:
    """Parse ``url``, choosing psycopg 3 for PostgreSQL when no driver is named."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseConfigError(f"not a database URL: {url!r}") from error
    drivername = _DEFAULT_DRIVERS.get(parsed.drivername, parsed.drivername)
    parsed = parsed.set(drivername=drivername)
    try:
        parsed.get_dialect()
    except NoSuchModuleError as error:
        raise DatabaseConfigError(f"unknown database dialect {drivername!r}") from error
    return parsed


def missing_driver(url: URL, error: ImportError) -> DatabaseConfigError:
    """The error to raise when the driver ``url`` needs is not installed."""
    extra = (
        " (pip install 'aipartnerupflow[postgres]')"
        if url.get_backend_name() == "postgresql"
        else ""
    )
    return DatabaseConfigError(
        f"the database driver for {url.drivername!r} is not installed: {error.name}{extra}"
    )
