"""The ``aipartnerupflow`` command line."""

from aipartnerupflow.runtime.cli.app import main

__all__ = ["main"]
