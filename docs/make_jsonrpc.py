"""Write docs/jsonrpc.md from the server's method table and the descriptions below.

    python docs/make_jsonrpc.py          # rewrite docs/jsonrpc.md
    python docs/make_jsonrpc.py --check  # exit 1 if the committed page is out of date

A method of the table without a description here (or a description of a method that
is not in the table) stops the script, so the page cannot drift from the server.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "jsonrpc.md"
NOT_FOUND = "-32001 no such task (or not yours, with authentication on)"
INVALID = "-32602 invalid or missing parameter"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    meaning: str
    default: str = "required"


@dataclass(frozen=True)
class Method:
    summary: str
    result: str
    example: dict[str, object]
    params: tuple[Param, ...] = ()
    errors: tuple[str, ...] = (INVALID, NOT_FOUND)
    path: str = "/tasks"
    notes: list[str] = field(default_factory=list)


TASK_ID = Param("task_id", "string", "id of the task")
TASK_IDS = Param("task_ids", "array of strings", "ids of the tasks")

METHODS: dict[str, Method] = {
    "tasks.create": Method(
        "Create a tree of tasks; the whole array is validated before anything is written.",
        "the tree: the root task with `children`",
        {"tasks": [{"id": "a", "name": "system_info_executor"}]},
        (
            Param(
                "tasks",
                "array of task objects",
                "the tasks (also accepted: the array, or one task, as params)",
            ),
        ),
        (INVALID + " (with `data.error_type`: the validation error naming task and field)",),
    ),
    "tasks.get": Method("One task.", "the task object", {"task_id": "a"}, (TASK_ID,)),
    "tasks.detail": Method(
        "A task with its direct children and the ids of the tasks that depend on it.",
        "the task object plus `children` and `dependent_task_ids`",
        {"task_id": "a"},
        (TASK_ID,),
    ),
    "tasks.list": Method(
        "Tasks matching every filter given, newest first.",
        "array of task objects",
        {"status": "completed", "limit": 10},
        (
            Param(
                "user_id", "string", "only this user's (with authentication on: yours only)", "all"
            ),
            Param(
                "status",
                "string",
                "pending, in_progress, waiting, completed, failed or cancelled",
                "all",
            ),
            Param("parent_id", "string", "only children of this task", "all"),
            Param("root_only", "boolean", "only roots of trees", "false"),
            Param("limit", "integer", "at most this many", "100"),
            Param("offset", "integer", "skip this many", "0"),
        ),
        (INVALID,),
    ),
    "tasks.tree": Method(
        "The whole tree a task belongs to.",
        "the root task with `children`",
        {"task_id": "a"},
        (TASK_ID,),
    ),
    "tasks.children": Method(
        "The direct children of a task.", "array of task objects", {"task_id": "a"}, (TASK_ID,)
    ),
    "tasks.update": Method(
        "Change fields of a task (name, inputs, params, schemas, dependencies, priority, status).",
        "the task object after the change",
        {"task_id": "a", "priority": 0},
        (TASK_ID, Param("any task field", "as the field", "its new value")),
    ),
    "tasks.delete": Method(
        "Delete a pending task and its subtree (history is kept).",
        '`{"success": true, "deleted_task_ids": [...]}`',
        {"task_id": "a"},
        (TASK_ID,),
        (INVALID + " (a task in the subtree is not pending)", NOT_FOUND),
    ),
    "tasks.execute": Method(
        "Run a stored tree, or create one from `tasks` and run it. The reply comes when the "
        "tree is done (or as server-sent events with `use_streaming`); webhooks are "
        "delivered in the background and never delay it.",
        '`{"success": true, "protocol": "jsonrpc", "status", "progress", "root_task_id", '
        '"result", "task_count"}`',
        {"tasks": [{"id": "a", "name": "system_info_executor"}]},
        (
            Param("task_id", "string", "the root of a stored tree to run", "or tasks"),
            Param("tasks", "array of task objects", "a tree to create and run", "or task_id"),
            Param(
                "use_streaming",
                "boolean",
                "answer with SSE: one JSON-RPC result per change, `final` last",
                "false",
            ),
            Param(
                "background",
                "boolean",
                "queue the tree for any worker (or this server) and answer at once with "
                '`{"status": "queued", "root_task_id"}`',
                "false",
            ),
            Param(
                "webhook_config",
                "object",
                "`url` (loopback or an --allow-callback-host), `method` POST or PUT, "
                "`headers`, `timeout` (5), `max_retries` (3): each change is POSTed to it",
                "none",
            ),
        ),
        (
            INVALID + " (also: a webhook host that is not allowed; the tree is already running)",
            NOT_FOUND,
        ),
    ),
    "tasks.cancel": Method(
        "Cancel tasks, their descendants and the tasks that require them.",
        "array, per task: `task_id`, `status` and a `message`",
        {"task_ids": ["a"], "error_message": "not needed"},
        (TASK_IDS, Param("error_message", "string", "why; recorded as the error", "none")),
        (INVALID,),
    ),
    "tasks.input": Method(
        "Give a task that waits for input (status `waiting`) its input, then run its tree "
        "again. The input is checked against the schema the task asked with, recorded under "
        "the task's `inputs.input`, and the task runs again with it. The reply comes when "
        "the tree's run ends: `waiting` again when a task asks for more.",
        '`{"success": true, "protocol": "jsonrpc", "status", "progress", "root_task_id", '
        '"result", "task_count"}`',
        {"task_id": "a", "input": {"approved": True}},
        (TASK_ID, Param("input", "any JSON value", "the input; must fit the recorded schema")),
        (
            INVALID + " (with `data.error_type`: TaskValidationError when the input does not "
            "fit, TaskStateError when the task is not waiting, its wait timed out or its "
            "tree is running); nothing is written",
            NOT_FOUND,
        ),
    ),
    "tasks.copy": Method(
        "Copy a task as a new pending tree (lineage in `original_task_id`).",
        "the new tree",
        {"task_id": "a", "children": True},
        (
            TASK_ID,
            Param("children", "boolean", "also copy its children and their dependencies", "false"),
        ),
    ),
    "tasks.history": Method(
        "Every event of a task, oldest first.",
        "array of `{position, tree_id, version, task_id, type, schema_version, timestamp, "
        "cause, changes}`",
        {"task_id": "a"},
        (TASK_ID,),
    ),
    "tasks.at": Method(
        "A tree as it was after a log position or at a time, rebuilt from the log.",
        "the task with `children`, as it was",
        {"task_id": "a", "position": 3},
        (
            TASK_ID,
            Param("position", "integer", "log position (see tasks.history)", "now"),
            Param("at", "string", "ISO 8601 time", "now"),
        ),
        (INVALID + " (also: the task did not exist at that point)", NOT_FOUND),
    ),
    "tasks.fork": Method(
        "A new pending tree from the task's subtree as it was after a log position (or at "
        "a time; now by default): tasks completed by then keep their results, the rest "
        "run again. The source tree is never written.",
        "the fork's root task with `children`",
        {"task_id": "a", "position": 3, "overrides": {"a": {"inputs": {"x": 2}}}},
        (
            TASK_ID,
            Param("position", "integer", "log position (see tasks.history)", "now"),
            Param("at", "string", "ISO 8601 time", "now"),
            Param(
                "overrides",
                "object",
                '`{task id or name: {"inputs": {...}, "params": {...}}}`, merged key by key',
                "none",
            ),
            Param("rerun", "array of strings", "tasks (ids or names) to run again", "none"),
        ),
        (INVALID + " (also: the task did not exist at that point)", NOT_FOUND),
    ),
    "tasks.diff": Method(
        "Compare two runs task by task, matched by lineage (fork, copy) or path of names.",
        "`{tasks: [{path, a, b, state, changes}], summary: {counts, identical, first_divergence}}`",
        {"task_id": "a", "other_task_id": "b"},
        (TASK_ID, Param("other_task_id", "string", "root of the run to compare with")),
        (INVALID, NOT_FOUND),
    ),
    "tasks.running.list": Method(
        "Roots of the trees running in this server.", "array of task objects", {}, (), ()
    ),
    "tasks.running.status": Method(
        "Status and progress of tasks.",
        'array of `{task_id, status, progress}` (`status: "not_found"` for unknown ids)',
        {"task_ids": ["a"]},
        (TASK_IDS,),
        (INVALID,),
    ),
    "tasks.running.count": Method(
        "How many trees run in this server.", '`{"count": n}`', {}, (), ()
    ),
    "system.health": Method(
        "Whether the server and its database answer.",
        '`{"status": "healthy", "version", "database": "ok", "running_trees"}`',
        {},
        (),
        (),
        path="/system",
    ),
}


def method_table() -> list[str]:
    """The methods the server dispatches, read from its own table."""
    import httpx

    from aipartnerupflow import TaskManager, create_session
    from aipartnerupflow.runtime.server.access import Access
    from aipartnerupflow.runtime.server.task_api import TaskApi
    from aipartnerupflow.runtime.server.webhooks import CallbackPolicy

    db = create_session(path=":memory:")
    try:
        api = TaskApi(
            db, Access(enabled=False), CallbackPolicy(), httpx.AsyncClient(), TaskManager(db)
        )
        return [*api.methods, "tasks.execute", *api.system_methods]
    finally:
        db.close()


def render() -> str:
    served = method_table()
    missing = set(served) ^ set(METHODS)
    if missing:
        raise SystemExit(f"described and served methods differ: {sorted(missing)}")
    out = [
        "# JSON-RPC methods",
        "",
        "<!-- Written by docs/make_jsonrpc.py from the server's method table; do not edit. -->",
        "",
        "Requests are JSON-RPC 2.0 objects POSTed to `/tasks` (`system.*` to `/system`). With "
        "`serve --auth-secret`, send `Authorization: Bearer TOKEN` (`aipartnerupflow token`); "
        "users see only their own tasks. Every method may also answer -32700 (body not JSON), "
        "-32600 (not a request object), -32601 (unknown method), -32002 (another writer got "
        "there first, or held the database too long: nothing was written, try again) and "
        "-32603 (internal error); bodies over `--max-body` get HTTP 413.",
        "",
    ]
    for name in served:
        method = METHODS[name]
        out += [f"## `{name}`", "", method.summary, ""]
        if method.params:
            out += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
            out += [f"| `{p.name}` | {p.kind} | {p.default} | {p.meaning} |" for p in method.params]
            out.append("")
        else:
            out += ["No parameters.", ""]
        out += [f"**Result:** {method.result}", ""]
        if method.errors:
            out += ["**Errors:** " + "; ".join(method.errors) + ".", ""]
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": name, "params": method.example})
        out += [
            "```bash",
            f"curl -s http://127.0.0.1:8000{method.path} -H 'Content-Type: application/json' \\",
            f"  -d '{body}'",
            "```",
            "",
        ]
    return "\n".join(out)


def main() -> None:
    page = render()
    if "--check" in sys.argv:
        if not PAGE.exists() or PAGE.read_text() != page:
            raise SystemExit(f"{PAGE} is out of date: run python docs/make_jsonrpc.py")
        return
    PAGE.write_text(page)
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
