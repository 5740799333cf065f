"""Loading an application's executors by module name, as the command line does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aipartnerupflow import ExtensionRegistry
from aipartnerupflow.runtime.plugins import PluginError, import_executors

APP = """
from aipartnerupflow import BaseTask, executor_register

class Shout(BaseTask):
    id = "shout"
    name = "shout"
    description = "upper-cases its text"

    async def execute(self, inputs):
        return {"text": inputs["text"].upper()}

class Whisper(Shout):
    id = "whisper"

def register(registry):
    registry.register_executor(Whisper)
"""


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"app_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_class_or_a_register_function_is_registered(app_module: str) -> None:
    registry = ExtensionRegistry()
    import_executors([f"{app_module}:Shout", f"{app_module}:register"], registry)
    assert registry.has_executor("shout") and registry.has_executor("whisper")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no_such_module_here", "cannot import"),
        ("{app}:Missing", "has no attribute"),
        ("{app}:APP_CONSTANT", "neither an executor"),
        (":Shout", "names no module"),
    ],
)
def test_a_bad_name_is_a_clear_error(app_module: str, spec: str, says: str) -> None:
    sys.modules.setdefault(app_module, __import__(app_module))
    sys.modules[app_module].APP_CONSTANT = 3  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match=says):
        import_executors([spec.format(app=app_module)], ExtensionRegistry())
