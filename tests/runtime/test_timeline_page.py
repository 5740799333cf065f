"""The timeline page in a real headless Chromium: a row per task, a bar per attempt, the
slider's position redraws the tree as it was, and a screenshot is written."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.replay import create_and_run, pipeline, sum_task

from aipartnerupflow import history, tree_at
from aipartnerupflow.projections.timeline import timeline
from aipartnerupflow.runtime.fork import fork
from aipartnerupflow.runtime.timeline import timeline_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
SCREENSHOT = Path(__file__).resolve().parents[1] / "artifacts" / "timeline.png"


def browser(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def rendered(page: Path, fragment: str = "") -> str:
    dom = browser("--dump-dom", page.as_uri() + fragment)
    assert 'data-ready="true"' in dom, dom[-2000:]
    return dom


def groups(dom: str) -> dict[str, str]:
    found = re.findall(r'<g class="task" data-task-id="([^"]+)" data-status="([^"]+)"', dom)
    return dict(found)


def bars(dom: str, task_id: str) -> list[str]:
    return re.findall(rf'class="bar ([^"]+)" data-task-id="{re.escape(task_id)}"', dom)


async def test_every_task_has_a_row_and_its_bars_match_the_log(db, tmp_path: Path) -> None:
    tasks = pipeline("w-")
    tasks.append(sum_task("w-bad", "w-root", fail="on purpose"))
    await create_and_run(db, tasks)
    page = tmp_path / "run.html"
    page.write_text(timeline_html(db, "w-root"))
    dom = rendered(page)
    now = {t.id: t.status for t in tree_at(db, "w-root").tasks()}
    assert groups(dom) == now
    for task_id in now:
        starts = [e for e in history(db, task_id=task_id) if e["type"] == "started"]
        assert len(bars(dom, task_id)) == len(starts)
    assert bars(dom, "w-bad") == ["failed"]
    assert "on purpose" in dom  # the error is on the bar's tooltip
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser("--window-size=1280,400", f"--screenshot={SCREENSHOT}", page.as_uri())
    assert SCREENSHOT.stat().st_size > 0


async def test_the_slider_position_redraws_the_tree_as_it_was(db, tmp_path: Path) -> None:
    await create_and_run(db, pipeline("s-"))
    page = tmp_path / "run.html"
    page.write_text(timeline_html(db, "s-root"))
    entries = history(db, tree_id=str(tree_at(db, "s-root").task.tree_id))
    for entry in entries[1:]:
        point = entry["position"]
        dom = rendered(page, f"#position={point}")
        was = {t.id: t.status for t in tree_at(db, "s-root", point).tasks()}
        assert groups(dom) == was, point


async def test_a_fork_shows_kept_tasks(db, tmp_path: Path) -> None:
    await create_and_run(db, pipeline("k-"))
    forked = fork(db, "k-root", rerun=["k-c"])
    data = timeline(db, forked.task.id)
    kept = [t for t in data["tasks"] if any(a.get("kept") for a in t["attempts"])]
    assert {t["name"] for t in kept} == {"k-root", "k-a", "k-b"}
    page = tmp_path / "fork.html"
    page.write_text(timeline_html(db, forked.task.id))
    assert len(re.findall(r'class="bar completed kept"', rendered(page))) == 3


def rows(dom: str) -> dict[str, dict[str, float]]:
    """Each panel's task rows: task id -> the y of its name, by panel root id."""
    found: dict[str, dict[str, float]] = {}
    for root, body in re.findall(
        r"<section class=\"panel\" data-root-id=\"([^\"]+)\">(.*?)</section>", dom, re.S
    ):
        found[root] = {
            task: float(y)
            for task, y in re.findall(
                r'<g class="task" data-task-id="([^"]+)"[^>]*>'
                r'<text class="name" x="[^"]+" y="([^"]+)"',
                body,
            )
        }
    return found


async def test_a_fork_is_drawn_beside_its_source(db, tmp_path: Path) -> None:
    await create_and_run(db, pipeline("v-"))
    forked = fork(db, "v-root", rerun=["v-c"])
    page = tmp_path / "fork.html"
    page.write_text(timeline_html(db, forked.task.id, compare="v-root"))
    dom = rendered(page)
    drawn = rows(dom)
    assert set(drawn) == {"v-root", forked.task.id}
    source = drawn["v-root"]
    for node in forked.walk():
        assert drawn[forked.task.id][node.task.id] == source[node.task.original_task_id]
    assert len(re.findall(r'class="bar completed kept"', dom)) == 3
    shot = tmp_path / "fork-beside-source.png"
    browser("--window-size=1400,300", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 0
    print(f"screenshot: {shot}")
