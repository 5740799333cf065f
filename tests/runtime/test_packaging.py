"""The distributions: a wheel with the package alone, an sdist that carries its tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: building writes build/ and *.egg-info next to the sources.
    source = tmp_path_factory.mktemp("source") / "aipartnerupflow"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.db*"
        ),
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return out


def test_the_wheel_holds_the_package_and_nothing_beside_it(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[1] for name in names if name.startswith("aipartnerupflow/")}
    assert {"tests", "bench", "examples", ".ci"}.isdisjoint(top)
    assert "aipartnerupflow/py.typed" in names
    assert "aipartnerupflow/events/store/log.py" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)


def test_the_sdist_carries_the_tests_and_they_collect(dist: Path, tmp_path: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    assert (unpacked / "tests" / "golden").is_dir()
    assert (unpacked / "bench" / "workers.py").is_file()
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"],
        cwd=unpacked,
        capture_output=True,
        text=True,
    )
    assert collected.returncode == 0, collected.stdout[-2000:]
    assert "tests/runtime/test_packaging.py" in collected.stdout
