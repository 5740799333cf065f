"""The library leaves the process that embeds it alone.

Each test runs a real host application in a fresh interpreter: it sets its own GC
thresholds, logging (and structlog) configuration, an SQLAlchemy mapper with a pending
relationship and a pykka actor, then imports the library, runs a tree and uses the audit
API, and reports what it saw as JSON. Nothing of the host's may have changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aipartnerupflow import create_session, history

HOST = r'''
import asyncio, atexit, collections.abc, gc, json, logging, os, sys, threading

mode, db_path, report_path = sys.argv[1:4]
report = {}

# -- the host's own settings, made before the library is imported -------------------
gc.set_threshold(5000, 20, 30)
gc_calls = []
for _name in ("disable", "enable", "freeze", "unfreeze", "set_threshold"):
    def _recorder(*args, _name=_name, _original=getattr(gc, _name)):
        gc_calls.append(_name)
        return _original(*args)
    setattr(gc, _name, _recorder)


class RecordingEnviron(collections.abc.MutableMapping):
    """os.environ, noting the keys this library's own code reads."""

    def __init__(self, real):
        self.real, self.read = real, set()

    def _note(self, key):
        if sys._getframe(2).f_globals.get("__name__", "").startswith("aipartnerupflow"):
            self.read.add(key)

    def __getitem__(self, key):
        self._note(key)
        return self.real[key]

    def get(self, key, default=None):
        self._note(key)
        return self.real.get(key, default)

    def __contains__(self, key):
        self._note(key)
        return key in self.real

    def __setitem__(self, key, value):
        self.real[key] = value

    def __delitem__(self, key):
        del self.real[key]

    def __iter__(self):
        return iter(self.real)

    def __len__(self):
        return len(self.real)


os.environ = RecordingEnviron(os.environ)

import structlog

if mode == "configured":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="HOST %(name)s %(message)s")
    structlog.configure(processors=[structlog.processors.JSONRenderer()])
root = logging.getLogger()
logging_before = (list(root.handlers), root.level, logging.lastResort)
structlog_before = structlog.get_config() if structlog.is_configured() else None

from sqlalchemy import ForeignKey, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class HostBase(DeclarativeBase):
    pass


class Order(HostBase):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    lines = relationship("OrderLine")  # defined further down, as applications do


import pykka


class HostActor(pykka.ThreadingActor):
    use_daemon_thread = True

    def on_receive(self, message):
        return "alive"


host_actor = HostActor.start()


@atexit.register  # registered before the library's own hook, so it runs after it
def _host_actor_at_exit():
    try:
        answer = host_actor.ask("ping", timeout=5)
    except pykka.ActorDeadError:
        answer = "dead"
    with open(report_path + ".exit", "w") as out:
        json.dump({"host_actor_at_exit": answer}, out)
    host_actor.stop()


# -- import and use the library ------------------------------------------------------
loaded_before = set(sys.modules)
import aipartnerupflow

HEAVY = ("aipartnerupflow.runtime.server", "aipartnerupflow.runtime.cli.app", "typer",
         "rich", "starlette", "uvicorn", "a2a", "httpx", "psutil")
report["loaded_by_import"] = sorted(set(HEAVY) & set(sys.modules) - loaded_before)
report["env_read_by_import"] = sorted(os.environ.read)

from aipartnerupflow import (BaseTask, TaskCreator, TaskManager, create_session, executor_register,
    history, history_async, log_position, log_position_async, rebuild_projections,
    rebuild_projections_async, tree_at, tree_at_async)


@executor_register()
class Probe(BaseTask):
    id = "host_probe"

    async def execute(self, inputs):
        threads = [(t.name, t.daemon) for t in threading.enumerate()]
        report["actor_threads"] = [
            daemon for name, daemon in threads if "TreeSupervisor" in name or "TaskActor" in name
        ]
        return {"gc_enabled": gc.isenabled()}


def failing_hook(task):
    raise RuntimeError("the host's hook fails")


async def use_library():
    db = create_session(path=db_path)
    await TaskCreator(db).create_task_tree_from_array([
        {"id": "root", "name": "root", "schemas": {"method": "host_probe"}},
        {"id": "leaf", "name": "leaf", "parent_id": "root", "schemas": {"method": "host_probe"}},
    ])
    summary = await TaskManager(db, pre_hooks=[failing_hook]).run_tree("root")
    report["status"] = summary["status"]
    position = await log_position_async(db)
    assert position == log_position(db)
    assert (await tree_at_async(db, "root", position=position)).to_dict() == tree_at(
        db, "root", position=position).to_dict()
    assert await history_async(db, task_id="leaf") == history(db, task_id="leaf")
    report["rebuilt"] = [rebuild_projections(db), await rebuild_projections_async(db)]
    report["tree_id"] = str(tree_at(db, "root").task.tree_id)
    db.close()


asyncio.run(use_library())

# -- what the host sees afterwards ---------------------------------------------------
report["gc_calls"] = gc_calls
report["gc"] = [gc.isenabled(), list(gc.get_threshold()), gc.get_freeze_count()]
report["env_read"] = sorted(os.environ.read)
report["logging_unchanged"] = (list(root.handlers), root.level, logging.lastResort) == (
    logging_before)
package_logger = logging.getLogger("aipartnerupflow")
report["package_logger"] = [type(h).__name__ for h in package_logger.handlers]
report["package_logger_level"] = package_logger.level
report["structlog"] = (
    "unchanged" if structlog.is_configured() and structlog.get_config() == structlog_before
    else "configured" if structlog.is_configured() else "not configured")
report["host_mapper_configured"] = inspect(Order).configured


class OrderLine(HostBase):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))


HostBase.registry.configure()
report["host_mapper_configured_by_host"] = inspect(Order).configured
report["host_actor_after_use"] = host_actor.ask("ping", timeout=5)
with open(report_path, "w") as out:
    json.dump(report, out)
'''

#: eventsourcing settings an application may set for its own event store.
HOST_EVENTSOURCING_ENV = {
    "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
    "CIPHER_KEY": "MDEyMzQ1Njc4OWFiY2RlZg==",
}


def run_host(tmp_path: Path, mode: str) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    script = tmp_path / "host.py"
    script.write_text(HOST)
    report = tmp_path / "report.json"
    env = {**os.environ, **HOST_EVENTSOURCING_ENV}
    env.pop("AIPARTNERUPFLOW_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, str(script), mode, str(tmp_path / "tasks.db"), str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(report.read_text())
    seen.update(json.loads(Path(f"{report}.exit").read_text()))
    return seen, done


@pytest.fixture(scope="module", params=["configured", "bare"])
def host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, dict[str, Any], subprocess.CompletedProcess[str]]:
    tmp_path = tmp_path_factory.mktemp(request.param)
    seen, done = run_host(tmp_path, request.param)
    return request.param, tmp_path, seen, done


def test_the_host_ran_a_tree(host) -> None:
    _, _, seen, _ = host
    assert seen["status"] == "completed"
    assert seen["rebuilt"] == [2, 2]


def test_the_collector_is_never_paused_or_retuned(host) -> None:
    _, _, seen, _ = host
    assert seen["gc_calls"] == []
    assert seen["gc"] == [True, [5000, 20, 30], 0]


def test_logging_and_structlog_stay_the_hosts(host) -> None:
    mode, _, seen, done = host
    assert seen["logging_unchanged"]
    assert seen["package_logger"] == ["NullHandler"]
    assert seen["package_logger_level"] == 0
    if mode == "configured":
        assert seen["structlog"] == "unchanged"
        # The failing hook's warning reached the host's own handler, and only there.
        assert "HOST aipartnerupflow.job" in done.stdout
        assert "hook_failed" in done.stdout
    else:
        assert seen["structlog"] == "not configured"
    assert done.stderr == ""


def test_the_hosts_mappers_are_left_to_the_host(host) -> None:
    _, _, seen, _ = host
    assert seen["host_mapper_configured"] is False
    assert seen["host_mapper_configured_by_host"] is True


def test_only_the_librarys_actors_are_stopped_and_they_are_daemons(host) -> None:
    _, _, seen, _ = host
    assert seen["actor_threads"] and all(seen["actor_threads"])
    assert seen["host_actor_after_use"] == "alive"
    assert seen["host_actor_at_exit"] == "alive"


def test_no_environment_variable_is_read_when_a_path_is_given(host) -> None:
    _, _, seen, _ = host
    assert seen["env_read_by_import"] == []
    assert seen["env_read"] == []


def test_the_hosts_eventsourcing_settings_do_not_change_the_log(host) -> None:
    _, tmp_path, seen, _ = host
    # Read back in this process, which has no cipher key: the log is plain.
    db = create_session(path=tmp_path / "tasks.db")
    try:
        entries = history(db, tree_id=seen["tree_id"])
    finally:
        db.close()
    assert {entry["task_id"] for entry in entries} >= {"root", "leaf"}


def test_importing_the_package_loads_no_server_cli_or_psutil(host) -> None:
    _, _, seen, _ = host
    assert seen["loaded_by_import"] == []


def test_every_public_name_resolves_and_is_listed() -> None:
    import aipartnerupflow

    assert sorted(aipartnerupflow.__all__) == sorted([*aipartnerupflow._HOME, "__version__"])
    for name in aipartnerupflow.__all__:
        assert getattr(aipartnerupflow, name) is not None
    assert set(aipartnerupflow.__all__) <= set(dir(aipartnerupflow))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = aipartnerupflow.no_such_name  # type: ignore[attr-defined]


def test_version_from_the_module_and_without_loading_the_commands() -> None:
    from aipartnerupflow import __version__

    done = subprocess.run(
        [sys.executable, "-m", "aipartnerupflow", "--version"], capture_output=True, text=True
    )
    expected = (0, f"aipartnerupflow {__version__}\n", "")
    assert (done.returncode, done.stdout, done.stderr) == expected
    probe = (
        "import sys; sys.argv = ['aipartnerupflow', '--version'];"
        "from aipartnerupflow.runtime.cli import main; main();"
        "print(sorted({'typer', 'rich', 'sqlalchemy', 'pykka'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_the_module_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aipartnerupflow", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "Usage: aipartnerupflow" in done.stdout
