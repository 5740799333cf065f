"""The ``aipartnerupflow`` command line.

``aipartnerupflow --version`` answers from here, without loading the commands (typer, rich
and the engine); everything else goes to :mod:`aipartnerupflow.runtime.cli.app`.
"""

from __future__ import annotations

import sys

from aipartnerupflow.version import __version__

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``aipartnerupflow`` console script and ``python -m aipartnerupflow``."""
    if sys.argv[1:] == ["--version"]:
        print(f"aipartnerupflow {__version__}")
        return
    from aipartnerupflow.runtime.cli.app import main as run_commands

    run_commands()
