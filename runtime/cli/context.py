"""Options every command takes (before or after its name), and the database they open.

``--db``, ``--log-level`` and ``--log-format`` are options of the program and of every
command: ``aipartnerupflow --db URL tasks list`` and ``aipartnerupflow tasks list --db URL``
mean the same; a value given after the command wins.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from aipartnerupflow.errors import ConcurrencyError
from aipartnerupflow.runtime.cli.logsetup import LogFormat, LogLevel, configure
from aipartnerupflow.runtime.cli.view import first_line

if TYPE_CHECKING:
    from aipartnerupflow.runtime.session import Database

DATABASE_ENV = "AIPARTNERUPFLOW_DATABASE_URL"
LOG_LEVEL_ENV = "AIPARTNERUPFLOW_LOG_LEVEL"
LOG_FORMAT_ENV = "AIPARTNERUPFLOW_LOG_FORMAT"
PANEL = "Global options (also before the command)"

errors = Console(stderr=True)


@dataclass(frozen=True)
class Settings:
    """The global options in effect for a command."""

    db: str | None = None
    log_level: LogLevel | None = None
    log_format: LogFormat | None = None


def _options(with_env: bool) -> dict[str, Any]:
    """The global options as annotations; the program's own read the environment."""

    def env(name: str) -> dict[str, Any]:
        return {"envvar": name, "show_envvar": True} if with_env else {}

    return {
        "db": Annotated[
            str | None,
            typer.Option(
                "--db",
                help="Database: an SQLAlchemy URL (sqlite:///tasks.db, postgresql://...) or "
                "an SQLite file path. Default: an SQLite file in ~/.local/share/aipartnerupflow.",
                rich_help_panel=PANEL,
                show_default=False,
                **env(DATABASE_ENV),
            ),
        ],
        "log_level": Annotated[
            LogLevel | None,
            typer.Option(
                "--log-level",
                case_sensitive=False,
                help="Lowest level of log lines written to stderr (default: warning; "
                "info for serve).",
                rich_help_panel=PANEL,
                show_default=False,
                **env(LOG_LEVEL_ENV),
            ),
        ],
        "log_format": Annotated[
            LogFormat | None,
            typer.Option(
                "--log-format",
                case_sensitive=False,
                help="Log lines as JSON objects or as readable text (default: console).",
                rich_help_panel=PANEL,
                show_default=False,
                **env(LOG_FORMAT_ENV),
            ),
        ],
    }


PROGRAM_OPTIONS = _options(with_env=True)
NAMES = tuple(field.name for field in fields(Settings))
# The context comes as a parameter: typer may bundle its own click, whose context stack
# is not the one ``import click`` sees.
CONTEXT = "_typer_context"


def _parameters(options: dict[str, Any]) -> list[inspect.Parameter]:
    """The context and the options, as parameters typer reads from a signature."""
    context = inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    return [
        context,
        *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
            for name, kind in options.items()
        ),
    ]


def program_callback(**given: Any) -> None:
    """Keeps the options given before the command for the command to merge."""
    context = given.pop(CONTEXT)
    context.obj = Settings(**given)


program_callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    _parameters(PROGRAM_OPTIONS)
)

_current = Settings()


def settings() -> Settings:
    """The global options of the running command."""
    return _current


def command(
    group: typer.Typer, name: str | None = None, log_level: LogLevel = LogLevel.WARNING
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``function`` as a command of ``group`` that also takes the global options;
    before it runs, the merged options are in effect (``settings()``, logging)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(function, eval_str=True)
        extra = _parameters(_options(with_env=False))

        @wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            global _current
            given = {name: kwargs.pop(name) for name in NAMES}
            before = kwargs.pop(CONTEXT).find_root().obj or Settings()
            _current = replace(
                before, **{name: value for name, value in given.items() if value is not None}
            )
            configure(_current.log_level or log_level, _current.log_format or LogFormat.CONSOLE)
            return function(*args, **kwargs)

        run.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), *extra]
        )
        group.command(name)(run)
        return function

    return decorate


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line; the caller raises the returned Exit."""
    errors.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def database_url(db: str | None) -> str:
    """The URL of ``--db``: a URL as given, a file path as an SQLite URL, else the default."""
    if db is None:
        from aipartnerupflow.runtime.session import default_database_path

        return f"sqlite:///{default_database_path()}"
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def _missing_file(url: str) -> Path | None:
    """The SQLite file ``url`` names, when that file does not exist."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parts = make_url(url)
    except ArgumentError:
        return None
    if not parts.drivername.startswith("sqlite") or parts.database in (None, "", ":memory:"):
        return None
    file = Path(parts.database)
    return None if file.exists() else file


@contextmanager
def open_db(*, create: bool) -> Iterator[Database]:
    """Open the database of ``--db``. Commands that only read (``create=False``) refuse a
    database file that does not exist rather than create an empty one."""
    from sqlalchemy.exc import SQLAlchemyError

    from aipartnerupflow.runtime.session import create_session

    url = database_url(settings().db)
    missing = _missing_file(url)
    if missing is not None:
        if not create:
            raise fail(f"no database at {missing} (run a tree first, or pass --db)", code=1)
        missing.parent.mkdir(parents=True, exist_ok=True)
    try:
        database = create_session(connection_string=url)
    except (SQLAlchemyError, ImportError, ValueError, ConcurrencyError) as exc:
        raise fail(f"cannot open the database: {first_line(exc)}") from None
    try:
        yield database
    except (ValueError, ConcurrencyError) as exc:
        raise fail(str(exc)) from None
    finally:
        database.close()
