"""Start-up cost: fresh-process times of ``import aipartnerupflow`` and of the command line.

Run from anywhere the package imports:

    python bench/imports.py            # 15 runs of each
    python bench/imports.py --runs 31

Each measure starts a new interpreter (``python -S`` is not used: site packages load as
they do for a user) and times it from outside, wall and CPU (user + system of the child).
A bare ``python -c pass`` is measured too, so the package's own share can be read off.
Figures are medians with [min .. max]; the target (0.3 s) is printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

TARGET_S = 0.3

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import aipartnerupflow": [sys.executable, "-c", "import aipartnerupflow"],
    "aipartnerupflow --help": [sys.executable, "-m", "aipartnerupflow", "--help"],
    "aipartnerupflow --version": [sys.executable, "-m", "aipartnerupflow", "--version"],
}


def run_once(command: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds and the exit code of one fresh process running ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} s [{min(values):.3f} .. {max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    import aipartnerupflow

    print(f"package: {os.path.dirname(aipartnerupflow.__file__)}")
    print(f"median [min .. max] over {args.runs} fresh processes; target <= {TARGET_S} s")
    for name, command in COMMANDS.items():
        run_once(command)  # warm the file cache; not counted
        walls, cpus, codes = zip(*(run_once(command) for _ in range(args.runs)), strict=True)
        failed = f"   (exit {max(codes)})" if any(codes) else ""
        print(f"{name:28} wall {spread(list(walls))}   cpu {spread(list(cpus))}{failed}")


if __name__ == "__main__":
    main()
