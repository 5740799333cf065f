"""Pages for people: ``GET /tasks/{root_id}/timeline`` (``?compare=OTHER_ROOT``) serves a
tree's timeline, the same self-contained page ``tasks timeline`` writes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from aipartnerupflow.errors import TaskNotFoundError
from aipartnerupflow.runtime.server.access import Access
from aipartnerupflow.runtime.session import Database
from aipartnerupflow.runtime.timeline import timeline_html


class Pages:
    """The HTML routes; with authentication on, a user sees only their own trees."""

    def __init__(self, db: Database, access: Access) -> None:
        self.db = db
        self.access = access

    async def timeline(self, request: Request) -> Response:
        root_id = request.path_params["root_id"]
        compare = request.query_params.get("compare")
        user = request.state.user_id
        try:
            for task_id in (root_id, *([compare] if compare else [])):
                await self.access.require(self.db, task_id, user)
            page = await self.db.run(timeline_html, self.db, root_id, compare)
        except TaskNotFoundError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=404)
        return HTMLResponse(page)
