"""``--import``: loading the application's executors into a command's process, from
modules named on the command line and from installed entry points."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from aipartnerupflow.runtime.cli.context import fail

ImportOption = Annotated[
    list[str] | None,
    typer.Option(
        "--import",
        "-i",
        help="Module whose executors to register, as module or module:attr (repeatable).",
    ),
]


def load_executors(specs: list[str] | None) -> list[str]:
    """Register the executors of ``specs`` and of installed entry points; returns the
    entry points loaded. A module that cannot be loaded exits 2 with one line."""
    from aipartnerupflow.actors.registry import get_registry
    from aipartnerupflow.runtime.plugins import PluginError, import_executors, load_entry_points

    registry = get_registry()
    if specs and os.getcwd() not in sys.path:
        # As with ``python -m``: the application's modules are found from where it runs.
        sys.path.insert(0, os.getcwd())
    try:
        import_executors(specs or [], registry)
        return load_entry_points(registry)
    except PluginError as exc:
        raise fail(str(exc)) from None
