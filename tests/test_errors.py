"""Every exception of the package lives in ``errors``, is public, and is drawn in the
module's docstring exactly as the classes are built."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path

import aipartnerupflow
from aipartnerupflow import errors

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = {"tests", "bench", "examples", "build", ".venv", ".git", ".ci"}
#: Command-line modules keep their own input errors for now.
ELSEWHERE = {"runtime/cli/tokens.py", "runtime/cli/lookup.py", "runtime/cli/taskfile.py"}
LINE = re.compile(r"^(?P<indent> *)\* (?P<name>\w+)(?: \[(?P<builtins>[\w, ]+)\])?$")


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def _drawn() -> dict[str, tuple[str | None, set[str]]]:
    """Each class of the docstring's drawing: its parent there and its built-in bases."""
    drawn: dict[str, tuple[str | None, set[str]]] = {}
    parents: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"])
        while parents and parents[-1][0] >= depth:
            parents.pop()
        extra = {b.strip() for b in (match["builtins"] or "").split(",") if b.strip()}
        drawn[match["name"]] = (parents[-1][1] if parents else None, extra)
        parents.append((depth, match["name"]))
    return drawn


def test_every_error_is_public() -> None:
    classes = _error_classes()
    assert classes, "errors.py defines no exception"
    for name, cls in classes.items():
        assert name in aipartnerupflow.__all__, name
        assert getattr(aipartnerupflow, name) is cls


def test_all_names_only_existing_attributes() -> None:
    for name in aipartnerupflow.__all__:
        assert hasattr(aipartnerupflow, name), name


def test_every_error_derives_from_task_flow_error() -> None:
    for cls in _error_classes().values():
        assert issubclass(cls, errors.TaskFlowError)


def test_the_drawing_matches_the_classes() -> None:
    classes = _error_classes()
    drawn = _drawn()
    assert set(drawn) == set(classes)
    for name, (parent, extra) in drawn.items():
        bases = classes[name].__bases__
        own = [b.__name__ for b in bases if b.__module__ == errors.__name__]
        native = {b.__name__ for b in bases if getattr(builtins, b.__name__, None) is b}
        if parent is None:
            assert own == [] and native == {"Exception"}, name
        else:
            assert own == [parent], name
            assert native == extra, name


def test_no_exception_class_outside_errors() -> None:
    found = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in OUTSIDE or relative.as_posix() in ELSEWHERE:
            continue
        if relative.as_posix() == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception"))
                for base in node.bases
            ):
                found.append(f"{relative}:{node.name}")
    assert found == []


def test_rpc_error_keeps_code_message_and_data() -> None:
    error = errors.RpcError(-32602, "missing parameter 'task_id'", {"field": "task_id"})
    assert (error.code, error.message, error.data) == (
        -32602,
        "missing parameter 'task_id'",
        {"field": "task_id"},
    )
    assert str(error) == "missing parameter 'task_id'"


def test_moved_errors_still_catch_as_before() -> None:
    assert issubclass(errors.CallbackRefused, ValueError)
    assert issubclass(errors.PluginError, ImportError)
    for cls in (errors.AuthError, errors.BodyTooLarge, errors.RpcError):
        assert issubclass(cls, Exception)
