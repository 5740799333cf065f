"""Sessions (where the database is), TaskStatus, and TaskTreeNode's derived status and
progress."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.samples import A2A_TREE

from aipartnerupflow import (
    Database,
    TaskCreator,
    TaskModel,
    TaskRepository,
    TaskStatus,
    TaskTreeNode,
    create_session,
    get_default_session,
)
from aipartnerupflow.runtime import session as session_module

ENV = "AIPARTNERUPFLOW_DATABASE_URL"


@pytest.fixture
def opened() -> Iterator[list[Database]]:
    """Sessions a test opens; all closed afterwards."""
    sessions: list[Database] = []
    yield sessions
    for db in sessions:
        db.close()


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No default session yet; the one the test opens is closed, the old one restored."""
    monkeypatch.setattr(session_module, "_default", None)
    yield
    if session_module._default is not None:
        session_module._default.close()


async def round_trip(db: Database, task_id: str = "t") -> None:
    """Write a task through the session and read it back."""
    repo = TaskRepository(db)
    await repo.create_task(name="written", id=task_id)
    assert (await repo.get_task_by_id(task_id)).name == "written"


async def has_task(db: Database, task_id: str = "t") -> bool:
    return await TaskRepository(db).get_task_by_id(task_id) is not None


# --------------------------------------------------------------------- sessions


async def test_in_memory_session(opened: list[Database]) -> None:
    """path=":memory:" opens a private in-memory database that keeps its data across
    calls (which run on another thread); two of them share nothing."""
    db = create_session(path=":memory:")
    other = create_session(path=":memory:")
    opened += [db, other]
    assert db.url == "sqlite://"
    await round_trip(db)
    assert await has_task(db)
    assert not await has_task(other)


async def test_file_session_creates_directories_and_persists(
    tmp_path: Path, opened: list[Database]
) -> None:
    """path=<file> creates missing directories; the data outlives the session."""
    file = tmp_path / "deep" / "er" / "tasks.db"
    db = create_session(path=file)
    await round_trip(db)
    db.close()
    assert file.is_file()
    again = create_session(path=str(file))
    opened.append(again)
    assert again.url == f"sqlite:///{file}"
    assert await has_task(again)


async def test_path_expands_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Database]
) -> None:
    """A path starting with ~ lands in the user's home directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    opened.append(create_session(path="~/flows/tasks.db"))
    assert (tmp_path / "flows" / "tasks.db").is_file()


async def test_connection_string_session(tmp_path: Path, opened: list[Database]) -> None:
    """connection_string takes a SQLAlchemy URL; it names the same file as path= would."""
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    db = create_session(connection_string=url)
    opened.append(db)
    assert db.url == url
    await round_trip(db)
    by_path = create_session(path=tmp_path / "by-url.db")
    opened.append(by_path)
    assert await has_task(by_path)


def test_connection_string_and_path_together_refused(tmp_path: Path) -> None:
    """Giving both is a ValueError, and nothing is created."""
    with pytest.raises(ValueError, match="not both"):
        create_session(connection_string=f"sqlite:///{tmp_path / 'a.db'}", path=tmp_path / "b.db")
    assert list(tmp_path.iterdir()) == []


async def test_default_session_honours_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_default: None, opened: list[Database]
) -> None:
    """get_default_session() opens $AIPARTNERUPFLOW_DATABASE_URL once and reuses it;
    create_session() without arguments uses it too."""
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv(ENV, url)
    default = get_default_session()
    assert default.url == url
    assert get_default_session() is default
    await round_trip(default)
    plain = create_session()
    opened.append(plain)
    assert plain.url == url and await has_task(plain)


@pytest.mark.parametrize("env_value", [None, ""])
async def test_default_path_under_xdg_data_home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_default: None,
    opened: list[Database],
    env_value: str | None,
) -> None:
    """Without (or with an empty) $AIPARTNERUPFLOW_DATABASE_URL the database is
    $XDG_DATA_HOME/aipartnerupflow/aipartnerupflow.db."""
    if env_value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, env_value)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "aipartnerupflow" / "aipartnerupflow.db"
    default = get_default_session()
    assert default.url == f"sqlite:///{expected}"
    await round_trip(default)
    assert expected.is_file()
    plain = create_session()
    opened.append(plain)
    assert plain.url == default.url


async def test_default_path_without_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Database]
) -> None:
    """Without $XDG_DATA_HOME the database is ~/.local/share/aipartnerupflow/."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    opened.append(create_session())
    assert (tmp_path / ".local" / "share" / "aipartnerupflow" / "aipartnerupflow.db").is_file()


# --------------------------------------------------------------------- statuses

STATUSES = {
    TaskStatus.PENDING: (False, True),
    TaskStatus.IN_PROGRESS: (False, True),
    TaskStatus.WAITING: (False, True),
    TaskStatus.COMPLETED: (True, False),
    TaskStatus.FAILED: (True, False),
    TaskStatus.CANCELLED: (True, False),
    "bogus": (False, False),
}


@pytest.mark.parametrize(("status", "expected"), STATUSES.items())
def test_task_status_is_terminal_and_is_active(status: str, expected: tuple[bool, bool]) -> None:
    """completed/failed/cancelled are terminal, pending/in_progress/waiting active; unknown
    neither."""
    assert (TaskStatus.is_terminal(status), TaskStatus.is_active(status)) == expected


def test_task_status_values() -> None:
    """The constants are the stored strings."""
    assert TaskStatus.ALL == (
        "pending",
        "in_progress",
        "completed",
        "failed",
        "cancelled",
        "waiting",
    )


# ---------------------------------------------------------------- TaskTreeNode


_numbers = itertools.count()


def node(status: str, progress: float | None = 0.0, *children: TaskTreeNode) -> TaskTreeNode:
    """A node over an in-memory task with the given status and progress."""
    task = TaskModel(id=f"task-{next(_numbers)}", name=status, status=status, progress=progress)
    return TaskTreeNode(task, list(children))


P, R, C, F, X = "pending", "in_progress", "completed", "failed", "cancelled"

STATUS_CASES = [
    ("all pending", node(P, 0.0, node(P), node(P)), P),
    ("a child running", node(P, 0.0, node(R), node(P)), R),
    ("a child done, others pending", node(P, 0.0, node(C), node(P)), R),
    ("a child failed, others pending", node(P, 0.0, node(F), node(P)), R),
    ("a child cancelled, others pending", node(P, 0.0, node(X), node(P)), R),
    ("children done, root pending", node(P, 0.0, node(C), node(C)), C),
    ("children done and failed, root pending", node(P, 0.0, node(C), node(F)), F),
    ("all completed", node(C, 1.0, node(C), node(C, 1.0, node(C))), C),
    ("failed beats cancelled", node(C, 1.0, node(X), node(F), node(C)), F),
    ("cancelled beats completed", node(C, 1.0, node(C), node(X)), X),
    ("deep failure", node(C, 1.0, node(C, 1.0, node(C, 1.0, node(F)))), F),
    ("root failed, children pending", node(F, 0.0, node(P)), P),
    *[(f"lone {s}", node(s), s) for s in (P, R, C, F, X)],
]


@pytest.mark.parametrize(
    ("case", "tree", "expected"), STATUS_CASES, ids=[c[0] for c in STATUS_CASES]
)
def test_calculate_status(case: str, tree: TaskTreeNode, expected: str) -> None:
    """A leaf's own status; a parent's from its children only (as 0.9.0): pending while
    all are pending, in progress until all are terminal (failed and cancelled never
    read as pending), then failed > cancelled > completed."""
    assert tree.calculate_status() == expected


PROGRESS_CASES = [
    ("pending leaf", node(P, 0.0), 0.0),
    ("running leaf", node(R, 0.4), 0.4),
    ("leaf without progress", node(P, None), 0.0),
    ("completed leaf", node(C, 1.0), 1.0),
    ("failed leaf keeps its own", node(F, 0.3), 0.3),
    ("cancelled leaf keeps its own", node(X, 0.0), 0.0),
    ("mean of the children", node(P, 0.0, node(C, 1.0), node(R, 0.5)), 0.75),
    ("the parent's own does not count", node(R, 0.9, node(F, 0.0)), 0.0),
    ("mean of means", node(R, 0.0, node(R, 0.0, node(C, 1.0), node(C, 1.0)), node(P)), 0.5),
]


@pytest.mark.parametrize(
    ("case", "tree", "expected"), PROGRESS_CASES, ids=[c[0] for c in PROGRESS_CASES]
)
def test_calculate_progress(case: str, tree: TaskTreeNode, expected: float) -> None:
    """A leaf's own progress; a parent's is the mean of its children's (as 0.9.0)."""
    assert tree.calculate_progress() == pytest.approx(expected)


def test_tree_node_structure() -> None:
    """add_child appends; walk/tasks go depth first; to_dict nests children."""
    root = node(P)
    first, second, grandchild = node(R, 0.5), node(C, 1.0), node(F)
    root.add_child(first)
    root.add_child(second)
    first.add_child(grandchild)
    assert root.children == [first, second]
    assert list(root.walk()) == [root, first, grandchild, second]
    assert root.tasks() == [root.task, first.task, grandchild.task, second.task]
    data = root.to_dict()
    assert data["status"] == P and [c["status"] for c in data["children"]] == [R, C]
    assert data["children"][0]["children"][0]["status"] == F
    assert data["children"][1]["children"] == []
    assert "children=2" in repr(root)


async def test_derived_status_of_a_stored_tree(creator: TaskCreator, repo: TaskRepository) -> None:
    """On the reference's A2A tree read back from the database, the parent's status and
    progress come from its children, whatever the parent's own."""
    await creator.create_task_tree_from_array(copy.deepcopy(A2A_TREE))
    assert (await repo.build_task_tree("parent-task")).calculate_status() == P
    await repo.update_task_status("child-1", C, result={"cpu": 1})
    tree = await repo.build_task_tree("parent-task")
    assert (tree.calculate_status(), tree.calculate_progress()) == (R, 0.5)
    await repo.update_task_status("child-2", F, error="no memory info")
    tree = await repo.build_task_tree("parent-task")
    assert (tree.task.status, tree.calculate_status(), tree.calculate_progress()) == (P, F, 0.5)
    await repo.update_task_status("parent-task", X)
    tree = await repo.build_task_tree("parent-task")
    assert (tree.calculate_status(), tree.calculate_progress()) == (F, 0.5)
