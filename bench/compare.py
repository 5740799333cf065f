"""Compare with aipartnerupflow 0.9.0 and with DBOS on the same small workloads.

    python bench/compare.py            # 5 runs each (3 for 0.9.0, which is slow)
    python bench/compare.py --quick    # 1 run each

Workloads: a chain of 20 dependent no-op tasks, and a fan-out of 100 no-op tasks under
one root. Each system runs in its own virtual environment under a temporary directory
(0.9.0 and DBOS installed from PyPI; this project from this checkout), each run on a
fresh database file: SQLite for this project and DBOS, 0.9.0's default DuckDB. Times
are medians of the wall time of running the workload (creating it excluded where the
system separates the two); ratios say how many times faster this project is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

COMMON = """
import asyncio, json, logging, sys, tempfile, time
logging.disable(logging.WARNING)
RUNS = int(sys.argv[1])
"""

# The same trivial executor for both versions of the library (both import BaseTask and
# executor_register first).
NOOP = """
@executor_register()
class Noop(BaseTask):
    id = "noop"; name = "noop"; description = "returns at once"
    async def execute(self, inputs): return {"ok": True}
    def get_input_schema(self): return {"type": "object", "properties": {}}
"""

OURS = (
    COMMON
    + """
from aipartnerupflow import BaseTask, TaskCreator, TaskManager, create_session, executor_register

"""
    + NOOP
    + """
def chain(n):
    return [{"id": "t0", "name": "noop"}] + [
        {"id": f"t{i}", "name": "noop", "parent_id": "t0", "dependencies": [f"t{i-1}"]}
        for i in range(1, n)]

def fanout(n):
    return [{"id": "r", "name": "noop"}] + [
        {"id": f"c{i}", "name": "noop", "parent_id": "r"} for i in range(n)]

async def once(tasks):
    with tempfile.TemporaryDirectory() as tmp:
        db = create_session(path=tmp + "/bench.db")
        root = await TaskCreator(db).create_task_tree_from_array(tasks)
        started = time.perf_counter()
        summary = await TaskManager(db).run_tree(root.task.id)
        elapsed = time.perf_counter() - started
        assert summary["status"] == "completed", summary
        db.close()
        return elapsed

print(json.dumps({"chain20": [asyncio.run(once(chain(20))) for _ in range(RUNS)],
                  "fanout100": [asyncio.run(once(fanout(100))) for _ in range(RUNS)]}))
"""
)

OLD = (
    COMMON
    + """
from aipartnerupflow import BaseTask, TaskManager, create_session
from aipartnerupflow.core.decorators import executor_register
from aipartnerupflow.core.types import TaskTreeNode

"""
    + NOOP
    + """
async def once(n, chained):
    with tempfile.TemporaryDirectory() as tmp:
        manager = TaskManager(create_session(path=tmp + "/bench.duckdb"))
        repo = manager.task_repository
        root = await repo.create_task(name="noop", user_id="u")
        node, previous = TaskTreeNode(root), root
        for _ in range(n - 1 if chained else n):
            deps = [{"id": previous.id, "required": True}] if chained else None
            task = await repo.create_task(name="noop", user_id="u", parent_id=root.id,
                                          dependencies=deps)
            node.add_child(TaskTreeNode(task))
            previous = task
        started = time.perf_counter()
        await manager.distribute_task_tree(node)
        elapsed = time.perf_counter() - started
        assert (await repo.get_task_by_id(previous.id)).status == "completed"
        return elapsed

print(json.dumps({"chain20": [asyncio.run(once(20, True)) for _ in range(RUNS)],
                  "fanout100": [asyncio.run(once(100, False)) for _ in range(RUNS)]}))
"""
)

DBOS = (
    COMMON
    + """
from dbos import DBOS

directory = tempfile.mkdtemp()
DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{directory}/sys.db",
             "run_admin_server": False})

@DBOS.step()
async def noop(i: int) -> dict:
    return {"ok": True}

@DBOS.workflow()
async def chain(n: int) -> int:
    for i in range(n):
        await noop(i)
    return n

@DBOS.workflow()
async def fanout(n: int) -> int:
    return len(await asyncio.gather(*(noop(i) for i in range(n + 1))))

async def timed(workflow, n):
    started = time.perf_counter()
    await workflow(n)
    return time.perf_counter() - started

async def main():
    DBOS.launch()
    await timed(chain, 2)  # warm-up: the first workflow pays for set-up
    figures = {"chain20": [await timed(chain, 20) for _ in range(RUNS)],
               "fanout100": [await timed(fanout, 100) for _ in range(RUNS)]}
    DBOS.destroy()
    print(json.dumps(figures))

asyncio.run(main())
"""
)


def venv_python(root: Path, name: str, packages: list[str]) -> str:
    """A fresh virtual environment with ``packages``; returns its interpreter."""
    path = root / name
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = str(path / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
        check=True,
        capture_output=True,
    )
    return python


def figures(python: str, script: str, runs: int, workdir: Path) -> dict[str, float]:
    file = workdir / f"workload_{abs(hash(script))}.py"
    file.write_text(textwrap.dedent(script))
    done = subprocess.run(
        [python, str(file), str(runs)], check=True, capture_output=True, text=True, timeout=3600
    )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.quick else 5
    project = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ours = figures(venv_python(root, "ours", ["-e", project]), OURS, runs, root)
        old = figures(
            venv_python(root, "old", ["aipartnerupflow==0.9.0", "greenlet"]),
            OLD,
            1 if args.quick else 3,
            root,
        )
        dbos = figures(venv_python(root, "dbos", ["dbos"]), DBOS, runs, root)
    print("median wall time (s); ratio = how many times faster this project is")
    print(f"{'workload':<12}{'this':>10}{'0.9.0':>10}{'DBOS':>10}{'vs 0.9.0':>11}{'vs DBOS':>10}")
    for workload in ("chain20", "fanout100"):
        mine = ours[workload]
        print(
            f"{workload:<12}{mine:>10.3f}{old[workload]:>10.3f}{dbos[workload]:>10.3f}"
            f"{old[workload] / mine:>10.1f}x{dbos[workload] / mine:>9.1f}x"
        )


if __name__ == "__main__":
    main()
