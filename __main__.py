"""``python -m aipartnerupflow``: the command line."""

from aipartnerupflow.runtime.cli import main

if __name__ == "__main__":
    main()
