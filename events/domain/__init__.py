"""The domain: task statuses, causes, validation, planning and the task-tree aggregate."""
