"""Task files for ``run``: read from a path or standard input, given fresh ids per run."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any


class TaskFileError(ValueError):
    """The task file cannot be read or does not hold a list of tasks."""


def load_tasks(source: str) -> list[Any]:
    """The tasks of a JSON file (``-`` for standard input): a list or ``{"tasks": [...]}``."""
    name = "standard input" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise TaskFileError(f"cannot read tasks from {name}: {exc}") from None
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise TaskFileError(f'{name} must hold a list of tasks or {{"tasks": [...]}}')
    return tasks


def run_tag() -> str:
    """A short random suffix that tells one run's ids from another's."""
    return uuid.uuid4().hex[:6]


def with_fresh_ids(tasks: list[Any], tag: str) -> list[Any]:
    """The tasks with ``-{tag}`` appended to every id given in the file, and to the
    references to them (``parent_id``, ``dependencies``), so that a file runs again and
    again; its ids stay visible as the start of the new ones. Anything that is not a task
    with a string id is left as it is, for the creator's validation to name."""
    ids = {
        task["id"] for task in tasks if isinstance(task, dict) and isinstance(task.get("id"), str)
    }

    def fresh(value: Any) -> Any:
        return f"{value}-{tag}" if isinstance(value, str) and value in ids else value

    def dependency(dep: Any) -> Any:
        if isinstance(dep, dict):
            return {**dep, "id": fresh(dep.get("id"))} if "id" in dep else dep
        return fresh(dep)

    renamed = []
    for task in tasks:
        if not isinstance(task, dict):
            renamed.append(task)
            continue
        task = {**task}
        for key in ("id", "parent_id"):
            if key in task:
                task[key] = fresh(task[key])
        if isinstance(task.get("dependencies"), list):
            task["dependencies"] = [dependency(dep) for dep in task["dependencies"]]
        renamed.append(task)
    return renamed
