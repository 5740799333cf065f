"""Executors that ship with the library."""

from __future__ import annotations

import os
from typing import Any

from aipartnerupflow.actors.executor import BaseTask
from aipartnerupflow.actors.registry import executor_register

# psutil and asyncio are imported where they are used: importing the package must not
# load them.


def _cpu() -> dict[str, Any]:
    import psutil

    return {
        "resource": "cpu",
        "cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "percent": psutil.cpu_percent(interval=0.1),
        "load_average": list(os.getloadavg()),
    }


def _memory() -> dict[str, Any]:
    import psutil

    memory = psutil.virtual_memory()
    return {
        "resource": "memory",
        "total": memory.total,
        "available": memory.available,
        "used": memory.used,
        "percent": memory.percent,
    }


def _disk() -> dict[str, Any]:
    import psutil

    usage = psutil.disk_usage("/")
    return {
        "resource": "disk",
        "path": "/",
        "total": usage.total,
        "used": usage.used,
        "free": usage.free,
        "percent": usage.percent,
    }


_READERS = {"cpu": _cpu, "memory": _memory, "disk": _disk}


@executor_register()
class SystemInfoExecutor(BaseTask):
    """Real figures about this machine's cpu, memory or disk."""

    id = "system_info_executor"
    name = "System information"
    description = "Reports cpu, memory or disk figures of the machine that runs it"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        resource = inputs.get("resource", "cpu")
        reader = _READERS.get(resource) if isinstance(resource, str) else None
        if reader is None:
            raise ValueError(f"resource must be one of {', '.join(_READERS)}, got {resource!r}")
        import asyncio

        # psutil reads files and sleeps (cpu_percent): keep that off the event loop.
        return await asyncio.to_thread(reader)

    def get_input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "resource": {
                    "type": "string",
                    "enum": list(_READERS),
                    "default": "cpu",
                    "description": "Which figures to report",
                }
            },
        }


@executor_register()
class AggregateResultsExecutor(BaseTask):
    """Collects its dependencies' results, which the runtime merged into its inputs.

    The runtime stores each dependency's result under the dependency's id, so every input
    is taken as one result, except keys starting with ``_``: those are reserved for
    anything that is not a dependency's result and never collected.
    """

    id = "aggregate_results_executor"
    name = "Aggregate results"
    description = "Collects the results of the tasks it depends on"

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        results = {key: value for key, value in inputs.items() if not key.startswith("_")}
        return {"results": results, "count": len(results)}
