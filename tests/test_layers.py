"""Layers import only downward: events ← projections ← actors ← runtime.

Inside ``events`` the store builds on the domain; inside ``runtime`` the server and the
command line build on the rest. The root's small modules (errors, logs, version) sit
below everything; the package's facade (``__init__``) and ``core`` sit above everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "aipartnerupflow"
#: Folders of the repository that are not part of the package.
OUTSIDE = {"tests", "bench", "examples", "build", ".venv", ".git", ".ci"}

#: Rank of each layer (by module name prefix, longest first); lower is further down.
RANKS = {
    "errors": 0,
    "logs": 0,
    "version": 0,
    "events.domain": 1,
    "events.store": 2,
    "events": 2,
    "projections": 3,
    "actors": 4,
    "runtime": 5,
    "runtime.server": 6,
    "runtime.cli": 7,
    "core": 8,
    "": 9,  # the facade: __init__ and __main__
    "__main__": 9,
}


def _rank(module: str) -> int:
    for prefix in sorted(RANKS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + ".") or prefix == "":
            return RANKS[prefix]
    raise AssertionError(f"no layer for {module!r}")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in OUTSIDE:
            continue
        name = ".".join(parts)[: -len(".py")]
        found[name.removesuffix("__init__").rstrip(".")] = path
    return found


def _imports(module: str, path: Path) -> list[str]:
    """Names of this package's modules that ``path`` imports (without the package name)."""
    is_package = path.name == "__init__.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                names.append(".".join([PACKAGE, *base, *([node.module] if node.module else [])]))
            elif node.module and node.module.split(".")[0] == PACKAGE:
                names.append(node.module)
    return [name.removeprefix(PACKAGE).lstrip(".") for name in names]


MODULES = _modules()


def test_every_layer_is_found() -> None:
    assert {"events.domain.tree", "projections.models", "actors.supervisor"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _rank(m) < 9))
def test_a_module_imports_no_layer_above_its_own(module: str) -> None:
    own = _rank(module)
    above = [name for name in _imports(module, MODULES[module]) if _rank(name) > own]
    assert not above, f"{module} (rank {own}) imports {above}, which are above it"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "tree.py"
    upward.write_text("from aipartnerupflow.runtime.session import Database\n")
    assert _imports("events.domain.tree", upward) == ["runtime.session"]
    assert _rank("runtime.session") > _rank("events.domain.tree")
