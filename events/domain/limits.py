"""Documented limits on what a task may hold: the same on every supported database.

Each limit is the smallest that SQLite and PostgreSQL both store, or a bound that keeps
one task (and so one event) small enough to load, copy and send without surprises. A
value beyond a limit is refused with ``LimitExceededError`` before anything is written.
"""

from __future__ import annotations

#: Characters of an id, a parent id, a user id, a name, a dependency type or an error
#: type: the ``VARCHAR(255)`` columns of the projection.
MAX_KEY_CHARS = 255

#: Largest priority (and any other integer column): PostgreSQL's ``INTEGER``.
MAX_INT = 2**31 - 1

#: Integers inside JSON values (inputs, params, schemas, result): what msgpack holds.
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**64 - 1

#: Largest ``limit`` or ``offset`` of a listing: a signed 64-bit integer in SQL.
MAX_ROW_COUNT = 2**63 - 1

#: Containers (objects and arrays) nested inside one JSON value.
MAX_JSON_DEPTH = 64

#: Bytes of one JSON field (inputs, params, schemas, dependencies, result) in the log's
#: encoding (msgpack).
MAX_FIELD_BYTES = 4 * 1024 * 1024

#: Bytes of a task's inputs, params, schemas and dependencies together, in the log's
#: encoding (its result is bounded by ``MAX_FIELD_BYTES`` on its own).
MAX_TASK_BYTES = 8 * 1024 * 1024

#: Characters kept of an error message; longer ones are cut (they are diagnostics
#: recorded by the runtime, never refused).
MAX_ERROR_CHARS = 64 * 1024

#: Characters kept of a failed executor's traceback: its end, where the raising frame and
#: the exception are (deep recursion would otherwise put megabytes into one event).
MAX_TRACEBACK_CHARS = 16 * 1024
