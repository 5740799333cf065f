"""``aipartnerupflow serve``: every server setting as an option or an environment variable."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from aipartnerupflow.runtime.cli.context import fail, open_db, settings
from aipartnerupflow.runtime.cli.imports import ImportOption, load_executors
from aipartnerupflow.runtime.cli.logsetup import LogLevel
from aipartnerupflow.runtime.cli.tokens import TokenError, check_secret

DEFAULT_MAX_BODY = 1024 * 1024


class Action(StrEnum):
    """``serve start`` is accepted as ``serve``, as older versions spelled it."""

    START = "start"


def _env(name: str) -> dict[str, object]:
    return {"envvar": f"AIPARTNERUPFLOW_{name}", "show_envvar": True}


def serve(
    action: Annotated[
        Action | None, typer.Argument(help="Optional; 'serve start' is the same as 'serve'.")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.", **_env("HOST"))] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", **_env("PORT"))] = 8000,
    auth_secret: Annotated[
        str | None,
        typer.Option(
            "--auth-secret",
            help="Require HS256 bearer tokens signed with this secret (at least 32 bytes); "
            "make them with 'aipartnerupflow token'.",
            show_default=False,
            **_env("AUTH_SECRET"),
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="The URL clients reach the server at, as the agent card announces it "
            "(default: http://HOST:PORT).",
            show_default=False,
            **_env("PUBLIC_URL"),
        ),
    ] = None,
    allow_callback_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-callback-host",
            help="A host webhooks and push notifications may be sent to, besides loopback "
            "(repeat the option for more; in the variable, separate them with spaces).",
            show_default=False,
            **_env("ALLOW_CALLBACK_HOSTS"),
        ),
    ] = None,
    max_body: Annotated[
        int,
        typer.Option(
            "--max-body",
            min=1,
            help="Largest request body in bytes (larger: 413).",
            **_env("MAX_BODY"),
        ),
    ] = DEFAULT_MAX_BODY,
    recover: Annotated[
        bool,
        typer.Option(
            "--recover/--no-recover",
            help="Resume trees interrupted mid-run when the server starts.",
            **_env("RECOVER"),
        ),
    ] = True,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log a line per request (at level info).",
            **_env("ACCESS_LOG"),
        ),
    ] = True,
    imports: ImportOption = None,
) -> None:
    """Serve the A2A and JSON-RPC APIs over HTTP until interrupted (Ctrl+C)."""
    load_executors(imports)
    import uvicorn

    from aipartnerupflow.runtime.server import create_app

    if auth_secret is not None:
        try:
            check_secret(auth_secret)
        except TokenError as exc:
            raise fail(f"--auth-secret: {exc}") from None
    base_url = (public_url or f"http://{host}:{port}").rstrip("/")
    with open_db(create=True) as database:
        app = create_app(
            database,
            auth_secret=auth_secret,
            base_url=base_url,
            allowed_callback_hosts=allow_callback_host or (),
            max_body=max_body,
            recover=recover,
        )
        Console(stderr=True).print(
            f"serving http://{escape(host)}:{port} (announced as {escape(base_url)}) "
            f"on {escape(repr(database))}; Ctrl+C stops",
            soft_wrap=True,
        )
        level = settings().log_level or LogLevel.INFO
        # No log_config: uvicorn's lines go through the handler of --log-format.
        uvicorn.run(
            app, host=host, port=port, log_config=None, log_level=level, access_log=access_log
        )
