"""TaskTreeNode: a task with its children, and the tree's derived status and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from statistics import fmean
from typing import Any, TypeVar
from uuid import UUID

from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskState, TaskTree
from aipartnerupflow.projections.models import TaskModel

T = TypeVar("T")


class TaskTreeNode:
    """A node of a task tree: ``task`` (a TaskModel) and its ``children`` nodes."""

    __slots__ = ("children", "task")

    def __init__(self, task: TaskModel, children: list[TaskTreeNode] | None = None) -> None:
        self.task = task
        self.children: list[TaskTreeNode] = list(children) if children else []

    def add_child(self, child: TaskTreeNode) -> None:
        """Append a child node."""
        self.children.append(child)

    def walk(self) -> Iterator[TaskTreeNode]:
        """This node and every node below it, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def tasks(self) -> list[TaskModel]:
        """Every task of the subtree, depth first."""
        return [node.task for node in self.walk()]

    def calculate_progress(self) -> float:
        """A leaf's own progress; a parent's is the mean of its children's (as 0.9.0)."""
        return self._fold(
            lambda task, children: fmean(children) if children else float(task.progress or 0.0)
        )

    def calculate_status(self) -> str:
        """A leaf's own status; a parent's comes from its children's (``derive_status``),
        whatever the parent's own."""
        return self._fold(
            lambda task, children: derive_status(children) if children else task.status
        )

    def to_dict(self) -> dict[str, Any]:
        """The task's columns plus a ``children`` list, recursively."""
        return self._fold(lambda task, children: {**task.to_dict(), "children": children})

    def _fold(self, value: Callable[[TaskModel, list[T]], T]) -> T:
        """``value(task, values of its children)`` of this node, computed bottom-up
        without recursion, so that deep trees work."""
        values: dict[int, T] = {}
        for node in reversed(list(self.walk())):  # children before their parents
            values[id(node)] = value(node.task, [values.pop(id(c)) for c in node.children])
        return values[id(self)]

    def __repr__(self) -> str:
        return f"TaskTreeNode({self.task!r}, children={len(self.children)})"


def derive_status(statuses: Iterable[str]) -> str:
    """The status of a group of tasks: pending while all are pending, in_progress until
    all are terminal, then failed if any failed, else cancelled if any was, else completed;
    waiting when a task waits for input and none runs.
    """
    seen = set(statuses)
    if seen <= TaskStatus.TERMINAL:
        for status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            if status in seen:
                return status
        return TaskStatus.COMPLETED
    if seen == {TaskStatus.PENDING}:
        return TaskStatus.PENDING
    if TaskStatus.WAITING in seen and TaskStatus.IN_PROGRESS not in seen:
        return TaskStatus.WAITING
    return TaskStatus.IN_PROGRESS


def derive_progress(tasks: Iterable[tuple[str, float | None]]) -> float:
    """Mean progress of ``(status, progress)`` pairs; terminal tasks count as done."""
    total = count = 0.0
    for status, progress in tasks:
        total += 1.0 if TaskStatus.is_terminal(status) else float(progress or 0.0)
        count += 1
    return total / count if count else 0.0


def tree_nodes(
    tree: TaskTree, root_id: str, model: Callable[[TaskState, UUID], TaskModel]
) -> TaskTreeNode:
    """The node of ``root_id`` and its subtree, straight from ``tree``'s states (children
    in creation order); ``model`` makes each task's model from its state and tree id.

    One walk down the tree's child lists: no id list, no map of models by id and no
    parent lookup per task, which cost more than the nodes themselves on 10k-task trees.
    """
    tasks, children, tree_id = tree.tasks, tree.children, tree.id
    root = TaskTreeNode(model(tasks[root_id], tree_id))
    stack = [(root, root_id)]
    while stack:
        node, task_id = stack.pop()
        below = node.children
        for child_id in children[task_id]:
            child = TaskTreeNode(model(tasks[child_id], tree_id))
            below.append(child)
            stack.append((child, child_id))
    return root
