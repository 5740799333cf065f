"""The executor interface, the extension registry, lookup precedence and hooks."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from aipartnerupflow import (
    BaseTask,
    ExecutableTask,
    ExtensionRegistry,
    executor_register,
    get_registry,
    register_post_hook,
    register_pre_hook,
)
from aipartnerupflow.actors.executor import bind_progress_sink
from aipartnerupflow.actors.registry import resolve_executor_id


class Echo(BaseTask):
    id = "echo"
    name = "Echo"
    description = "returns its inputs"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return dict(inputs)

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"text": {"type": "string"}}}


class Shout(Echo):
    id = "shout"
    name = "Shout"


@pytest.fixture
def registry() -> ExtensionRegistry:
    return ExtensionRegistry()


@pytest.fixture
def global_registry() -> Iterator[ExtensionRegistry]:
    """The process-wide registry, restored afterwards so other tests never see changes."""
    shared = get_registry()
    executors = dict(shared._executors)
    pre_hooks, post_hooks = shared.pre_hooks, shared.post_hooks
    yield shared
    shared._executors.clear()
    shared._executors.update(executors)
    shared.clear_hooks()
    for hook in pre_hooks:
        shared.register_pre_hook(hook)
    for hook in post_hooks:
        shared.register_post_hook(hook)


def task(name: str = "t", *, executor_id: str | None = None, method: str | None = None) -> Any:
    params = {"executor_id": executor_id} if executor_id else {}
    schemas = {"method": method} if method else {}
    return SimpleNamespace(name=name, params=params, schemas=schemas)


# --- the interface -----------------------------------------------------------------


def test_executable_task_requires_the_whole_interface() -> None:
    class Partial(ExecutableTask):
        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {}

    with pytest.raises(TypeError):
        Partial()  # type: ignore[abstract]


async def test_executable_task_with_properties_and_default_cancel() -> None:
    class Direct(ExecutableTask):
        @property
        def id(self) -> str:
            return "direct"

        @property
        def name(self) -> str:
            return "Direct"

        @property
        def description(self) -> str:
            return "implements the interface itself"

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {"got": inputs}

        def get_input_schema(self) -> dict[str, Any]:
            return {}

    executor = Direct()
    assert (executor.id, executor.name) == ("direct", "Direct")
    assert await executor.execute({"a": 1}) == {"got": {"a": 1}}
    assert await executor.cancel() is None
    bind_progress_sink(executor, lambda value: None)  # nothing to bind: no error


def test_base_task_keeps_inputs_and_kwargs_and_has_an_open_schema() -> None:
    inputs = {"text": "hi"}
    executor = Echo(inputs, model="small")
    inputs["text"] = "changed"
    assert executor.inputs == {"text": "hi"}
    assert executor.kwargs == {"model": "small"}
    assert Echo().inputs == {}

    class Plain(BaseTask):
        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {}

    assert Plain().get_input_schema() == {"type": "object", "properties": {}}


def test_report_progress_goes_to_the_bound_sink_clamped() -> None:
    executor = Echo()
    executor.report_progress(0.5)  # unbound: a no-op
    seen: list[float] = []
    bind_progress_sink(executor, seen.append)
    for value in (0.25, 1.5, -1):
        executor.report_progress(value)
    assert seen == [0.25, 1.0, 0.0]


# --- registration and lookup ---------------------------------------------------------


def test_a_registered_class_gives_a_fresh_instance_per_run(registry: ExtensionRegistry) -> None:
    registry.register_executor(Echo)
    assert registry.has_executor("echo") and not registry.has_executor("Echo")
    assert registry.get_executor_class("echo") is Echo
    first = registry.create_executor("echo", {"text": "a"})
    second = registry.create_executor("echo", {"text": "b"})
    assert isinstance(first, Echo) and isinstance(second, Echo)
    assert first is not second
    assert (first.inputs, second.inputs) == ({"text": "a"}, {"text": "b"})


def test_a_registered_instance_is_shared(registry: ExtensionRegistry) -> None:
    instance = Echo()
    registry.register_executor(instance, executor_id="shared_echo")
    assert registry.create_executor("shared_echo") is instance
    assert registry.create_executor("shared_echo", {"x": 1}) is instance
    assert registry.get_executor_class("shared_echo") is Echo
    assert not registry.has_executor("echo")


def test_unknown_ids_give_none(registry: ExtensionRegistry) -> None:
    assert registry.create_executor("nope") is None
    assert registry.get_executor_class("nope") is None
    assert registry.executor_hooks("nope") == (None, None)
    registry.unregister_executor("nope")  # ignored


def test_an_executor_needs_an_id(registry: ExtensionRegistry) -> None:
    class Nameless(BaseTask):
        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {}

    with pytest.raises(ValueError, match="non-empty string id"):
        registry.register_executor(Nameless)
    registry.register_executor(Nameless, executor_id="named_now")
    assert registry.get_executor_class("named_now") is Nameless


def test_override(registry: ExtensionRegistry) -> None:
    registry.register_executor(Echo)
    registry.register_executor(Shout, executor_id="echo")
    assert registry.get_executor_class("echo") is Shout
    with pytest.raises(ValueError, match="already registered as 'echo'"):
        registry.register_executor(Echo, override=False)
    assert registry.get_executor_class("echo") is Shout
    registry.register_executor(Echo, executor_id="fresh", override=False)
    assert registry.has_executor("fresh")


def test_unregister_forgets_the_executor_and_its_hooks(registry: ExtensionRegistry) -> None:
    registry.register_executor(Echo, pre_hook=lambda task, inputs: None)
    registry.unregister_executor("echo")
    assert not registry.has_executor("echo")
    assert registry.executor_hooks("echo") == (None, None)


def test_per_executor_hooks_are_stored(registry: ExtensionRegistry) -> None:
    def pre(task: Any, inputs: dict[str, Any]) -> Any:
        return None

    def post(task: Any, inputs: dict[str, Any], result: Any) -> None:
        return None

    registry.register_executor(Echo, pre_hook=pre, post_hook=post)
    registry.register_executor(Shout)
    assert registry.executor_hooks("echo") == (pre, post)
    assert registry.executor_hooks("shout") == (None, None)


def test_list_executors(registry: ExtensionRegistry) -> None:
    registry.register_executor(Shout)
    registry.register_executor(Echo())
    assert registry.list_executors() == [
        {
            "id": "echo",
            "name": "Echo",
            "description": "returns its inputs",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
        {
            "id": "shout",
            "name": "Shout",
            "description": "returns its inputs",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
    ]


def test_lookup_precedence_executor_id_then_method_then_name(
    registry: ExtensionRegistry,
) -> None:
    for executor_id in ("by_id", "by_method", "by_name"):
        registry.register_executor(Echo, executor_id=executor_id)
    both = task("by_name", executor_id="by_id", method="by_method")
    assert resolve_executor_id(both, registry) == ("by_id", True)
    assert resolve_executor_id(task("by_name", method="by_method"), registry) == (
        "by_method",
        True,
    )
    assert resolve_executor_id(task("by_name"), registry) == ("by_name", True)


def test_lookup_reports_what_is_missing(registry: ExtensionRegistry) -> None:
    registry.register_executor(Echo)
    # An explicit choice is never passed over, so a typo names itself.
    assert resolve_executor_id(task("echo", executor_id="ecko"), registry) == ("ecko", False)
    assert resolve_executor_id(task("echo", method="ecko"), registry) == ("ecko", False)
    # A plain task name is only a choice when an executor has it.
    assert resolve_executor_id(task("Fetch data"), registry) == (None, False)
    empty = SimpleNamespace(name="echo", params=None, schemas=None)
    assert resolve_executor_id(empty, registry) == ("echo", True)


# --- the process-wide registry, the decorator and global hooks ---------------------------


def test_the_reference_decorator_registers_and_returns_the_class(
    global_registry: ExtensionRegistry,
) -> None:
    @executor_register()
    class MyExecutor(BaseTask):
        id = "my_executor"
        name = "My Executor"
        description = "Does something useful"

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {"status": "completed", "result": "..."}

    assert isinstance(MyExecutor, type) and MyExecutor.id == "my_executor"
    assert global_registry.get_executor_class("my_executor") is MyExecutor
    assert isinstance(global_registry.create_executor("my_executor"), MyExecutor)


def test_the_decorator_takes_hooks_and_an_id(global_registry: ExtensionRegistry) -> None:
    def pre(task: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"cached": True}

    registered = executor_register(pre_hook=pre, executor_id="echo_alias")(Echo)
    assert registered is Echo
    assert global_registry.get_executor_class("echo_alias") is Echo
    assert global_registry.executor_hooks("echo_alias") == (pre, None)


def test_the_fixture_restores_the_process_wide_registry() -> None:
    shared = get_registry()
    assert not shared.has_executor("my_executor") and not shared.has_executor("echo_alias")
    assert shared.has_executor("system_info_executor")
    assert shared.has_executor("aggregate_results_executor")


def test_global_hooks_in_order_as_copies(registry: ExtensionRegistry) -> None:
    def first(task: Any) -> None: ...

    async def second(task: Any) -> None: ...

    def after(task: Any, inputs: dict[str, Any], result: Any) -> None: ...

    assert registry.register_pre_hook(first) is first
    registry.register_pre_hook(second)
    registry.register_post_hook(after)
    assert registry.pre_hooks == [first, second]
    assert registry.post_hooks == [after]
    registry.pre_hooks.clear()  # a copy: the registry keeps its hooks
    assert registry.pre_hooks == [first, second]
    registry.clear_hooks()
    assert registry.pre_hooks == [] and registry.post_hooks == []


def test_module_level_hook_registration_works_as_decorators(
    global_registry: ExtensionRegistry,
) -> None:
    @register_pre_hook
    def before(task: Any) -> None:
        task.inputs["seen"] = True

    @register_post_hook
    def after(task: Any, inputs: dict[str, Any], result: Any) -> None: ...

    assert callable(before) and callable(after)
    assert global_registry.pre_hooks[-1] is before
    assert global_registry.post_hooks[-1] is after
