"""Executors that ship with the library, registered when the package is imported."""

from aipartnerupflow.runtime.executors import builtin

__all__ = ["builtin"]
