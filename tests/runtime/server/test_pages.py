"""The timeline page served over real HTTP: the tree's own page, a fork beside its
source, and the same ownership rules as the task API."""

from __future__ import annotations

import json
import re

import httpx
from support.replay import create_and_run, pipeline
from support.server import serving

from aipartnerupflow.runtime.fork import fork
from aipartnerupflow.runtime.server import create_app, issue_token

SECRET = "a-test-secret-of-at-least-32-bytes!"


def panels(page: str) -> list[dict]:
    found = re.search(r"<script type='application/json' id='timeline-data'>(.*?)</script>", page)
    assert found, page[:500]
    return json.loads(found.group(1).replace("<\\/", "</"))


async def test_a_tree_and_a_fork_beside_its_source(db) -> None:
    await create_and_run(db, pipeline("h-"))
    forked = fork(db, "h-root", rerun=["h-c"])
    with serving(create_app(db, recover=False)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            own = await client.get("/tasks/h-root/timeline")
            assert own.status_code == 200 and own.headers["content-type"].startswith("text/html")
            assert [p["root_id"] for p in panels(own.text)] == ["h-root"]
            both = await client.get(f"/tasks/{forked.task.id}/timeline?compare=h-root")
            source, copy = panels(both.text)
            assert (source["root_id"], copy["root_id"]) == ("h-root", forked.task.id)
            rows = {t["id"]: i for i, t in enumerate(source["tasks"])}
            assert {t["original_task_id"]: t["row"] for t in copy["tasks"]} == rows
            missing = await client.get("/tasks/nope/timeline")
            assert missing.status_code == 404 and "nope" in missing.text
            unknown = await client.get("/tasks/h-root/timeline?compare=nope")
            assert unknown.status_code == 404


async def test_only_the_owner_sees_the_page(db) -> None:
    tasks = [{**task, "user_id": "ann"} for task in pipeline("o-")]
    await create_and_run(db, tasks)
    with serving(create_app(db, auth_secret=SECRET, recover=False)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.get("/tasks/o-root/timeline")).status_code == 401
            ann = {"Authorization": f"Bearer {issue_token(SECRET, 'ann')}"}
            bob = {"Authorization": f"Bearer {issue_token(SECRET, 'bob')}"}
            assert (await client.get("/tasks/o-root/timeline", headers=ann)).status_code == 200
            assert (await client.get("/tasks/o-root/timeline", headers=bob)).status_code == 404
