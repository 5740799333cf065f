"""Every code block of the README runs as written, in order, on a fresh database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.server import free_port

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
#: The port the README's serve example uses; each run takes a free one instead, so two
#: runs of the suite on one machine never reach each other's server.
README_PORT = "8321"
SETUP = [
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[cli]" '
    "&& aipartnerupflow demo",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest',
]


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the examples and a database file that does not exist yet."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "examples").symlink_to(ROOT / "examples")
    return folder


def test_the_first_block_is_the_two_set_up_commands() -> None:
    language, code = blocks()[0]
    assert language == "bash" and code.splitlines() == SETUP


@pytest.mark.parametrize(
    ("language", "code"), blocks()[1:], ids=lambda value: str(value).split("\n")[0][:40]
)
def test_a_block_runs(workdir: Path, language: str, code: str) -> None:
    assert language in ("bash", "python"), language
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPARTNERUPFLOW_")}
    env["AIPARTNERUPFLOW_DATABASE_URL"] = f"sqlite:///{workdir / 'readme.db'}"
    # The interpreter running the tests, and its console scripts, come first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    code = code.replace(README_PORT, str(free_port()))
    command = ["bash", "-e", "-o", "pipefail", "-c", code]
    if language == "python":
        command = [sys.executable, "-c", code]
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
