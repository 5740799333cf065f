"""``python -m aipartnerupflow``: the command line."""

from aipartnerupflow.runtime.cli import main

main()
