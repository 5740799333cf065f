"""Task definitions shared by several test modules."""

from __future__ import annotations

# The task tree of the reference's A2A example: the parent depends on its children.
A2A_TREE = [
    {
        "id": "parent-task",
        "name": "Parent Task",
        "user_id": "user123",
        "dependencies": [{"id": "child-1", "required": True}, {"id": "child-2", "required": True}],
        "schemas": {"method": "aggregate_results_executor"},
        "inputs": {},
    },
    {
        "id": "child-1",
        "name": "Child Task 1",
        "parent_id": "parent-task",
        "user_id": "user123",
        "schemas": {"method": "system_info_executor"},
        "inputs": {"resource": "cpu"},
    },
    {
        "id": "child-2",
        "name": "Child Task 2",
        "parent_id": "parent-task",
        "user_id": "user123",
        "dependencies": [{"id": "child-1", "required": True}],
        "schemas": {"method": "system_info_executor"},
        "inputs": {"resource": "memory"},
    },
]
