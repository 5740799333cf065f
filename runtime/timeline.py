"""The timeline page: one self-contained HTML file (inline SVG, no network) per tree."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

from aipartnerupflow.projections.timeline import timeline
from aipartnerupflow.runtime.session import Database

_STYLE = """
body{font:13px system-ui,sans-serif;margin:0;color:#222}
main{display:flex}
.panel{flex:1;min-width:0;border-right:1px solid #ddd}
header{padding:8px 12px;border-bottom:1px solid #ddd;display:flex;gap:16px;align-items:center}
.slider{flex:1}
.chart{overflow:auto;height:calc(100vh - 160px)}
.name{font:12px monospace;fill:#333}
.queued{fill:#e6e6e6}
.bar{stroke:#0003}
.bar.completed{fill:#3a3}.bar.failed{fill:#d33}.bar.cancelled{fill:#a3a}
.bar.running{fill:#fb3}.bar.reset{fill:#999}.bar.kept{fill-opacity:.45}
.link{stroke:#06c;stroke-opacity:.35;fill:none}
#details{border-top:1px solid #ddd;padding:6px 12px;height:110px;overflow:auto;
 font:12px monospace;white-space:pre-wrap}
"""

# Plain SVG drawn from the embedded data; the slider replays the recorded status changes
# up to a log position, the same fold the log itself defines.
_SCRIPT = r"""
const panels = JSON.parse(document.getElementById('timeline-data').textContent);
const NS = 'http://www.w3.org/2000/svg', ROW = 18, LEFT = 260;
const WIDTH = panels.length > 1 ? 420 : 900;
function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}
function show(t, a) {
  document.getElementById('details').textContent = JSON.stringify(
    {id: t.id, name: t.name, attempt: a, inputs: t.inputs, result: t.result, error: t.error,
     original_task_id: t.original_task_id}, null, 2);
}
// One panel per run; a fork shown beside its source has each task on its source's row.
function panel(data, root, asked) {
const tasks = data.tasks, changes = data.changes;
const row = (i) => tasks[i].row ?? i;
const rows = Math.max(0, ...tasks.map((t, i) => row(i) + 1));
const times = [];
for (const t of tasks) {
  if (t.created !== null) times.push(t.created);
  for (const a of t.attempts) { times.push(a.start); if (a.end !== null) times.push(a.end); }
}
const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1);
const x = (t) => LEFT + (t - t0) / (t1 - t0) * WIDTH;
const slider = root.querySelector('.slider');
slider.max = changes.length;
function depth(i) {
  let d = 0;
  while (tasks[i].parent !== null) { i = tasks[i].parent; d++; }
  return d;
}
function draw(upto) {
  // Up to change number `upto`: when it happened, and each task's status by then.
  const cut = upto >= changes.length ? Infinity : changes[upto][1];
  const status = new Array(tasks.length).fill(null);
  for (let k = 0; k < Math.min(upto, changes.length); k++) status[changes[k][2]] = changes[k][3];
  const position = upto === 0 ? 0 : changes[Math.min(upto, changes.length) - 1][0];
  root.querySelector('.position').textContent =
    upto >= changes.length ? 'now (position ' + position + ')' : 'position ' + position;
  const svg = root.querySelector('svg');
  svg.replaceChildren();
  svg.setAttribute('height', rows * ROW + 20);
  svg.setAttribute('width', LEFT + WIDTH + 20);
  const ends = {}, starts = {};
  tasks.forEach((t, i) => {
    if (status[i] === null) return;
    const y = row(i) * ROW + 10;
    const g = el('g', {class: 'task', 'data-task-id': t.id, 'data-status': status[i]}, svg);
    el('text', {class: 'name', x: 4 + depth(i) * 10, y: y + 12}, g).textContent = t.name;
    const first = t.attempts.length ? Math.min(t.attempts[0].start, cut) : Math.min(t1, cut);
    if (t.created !== null && first > t.created)
      el('rect', {class: 'queued', x: x(t.created), y: y + 3,
        width: x(first) - x(t.created), height: ROW - 6}, g);
    let last = x(t.created ?? t0);
    for (const a of t.attempts) {
      if (a.start > cut) continue;
      const end = a.end === null || a.end > cut ? Math.min(cut, t1) : a.end;
      const shown = a.end === null || a.end > cut ? 'running' : a.status;
      const bar = el('rect', {class: 'bar ' + shown + (a.kept ? ' kept' : ''), 'data-task-id': t.id,
        x: x(a.start), y: y + 2, width: Math.max(2, x(end) - x(a.start)), height: ROW - 4}, g);
      el('title', {}, bar).textContent = t.name + ': ' + shown +
        ' ' + ((end - a.start) / 1000).toFixed(3) + ' s' + (a.error ? '\n' + a.error : '');
      bar.addEventListener('click', () => show(t, a));
      last = x(end);
    }
    ends[i] = [last, y + ROW / 2];
    starts[i] = [x(first), y + ROW / 2];
  });
  tasks.forEach((t, i) => {
    if (!(i in ends)) return;
    for (const d of t.dependencies) if (d in ends)
      el('path', {class: 'link',
        d: `M${ends[d][0]},${ends[d][1]} L${starts[i][0]},${starts[i][1]}`}, svg);
  });
}
slider.addEventListener('input', () => draw(Number(slider.value)));
let start = changes.length;
if (asked) start = changes.filter((c) => c[0] <= Number(asked[1])).length;
slider.value = start;
draw(start);
}
const asked = /position=(\d+)/.exec(location.hash);
document.querySelectorAll('.panel').forEach((root, k) => panel(panels[k], root, k ? null : asked));
document.body.setAttribute('data-load-ms', performance.now().toFixed(1));
document.body.setAttribute('data-ready', 'true');
"""


def _panel(data: dict[str, Any]) -> str:
    heading = escape(f"{data.get('label', 'run')} {data['root_id']}")
    return (
        f"<section class='panel' data-root-id='{escape(data['root_id'])}'>"
        f"<header><strong>{heading}</strong>"
        "<input class='slider' type='range' min='0' step='1' aria-label='log position'>"
        "<span class='position'></span></header>"
        "<div class='chart'><svg xmlns='http://www.w3.org/2000/svg'></svg></div></section>"
    )


def align(source: dict[str, Any], fork: dict[str, Any]) -> dict[str, Any]:
    """``fork``'s timeline with each task given the row of the ``source`` task it came
    from (by lineage, either way round); tasks with no counterpart go below them."""
    rows = {task["id"]: index for index, task in enumerate(source["tasks"])}
    origins = {task["original_task_id"]: index for index, task in enumerate(source["tasks"])}
    spare = len(source["tasks"])
    tasks = []
    for task in fork["tasks"]:
        row = rows.get(task["original_task_id"], origins.get(task["id"]))
        if row is None:
            row, spare = spare, spare + 1
        tasks.append({**task, "row": row})
    return {**fork, "tasks": tasks}


def render_timeline(
    data: dict[str, Any], title: str | None = None, compare: dict[str, Any] | None = None
) -> str:
    """The page for ``timeline()`` data; works offline, from a file or from a server.
    With ``compare`` (another run's data, such as the source of a fork), the two runs
    are drawn side by side, ``compare`` on the left, tasks aligned by lineage."""
    panels = [{**data, "label": "run"}]
    if compare is not None:
        panels = [{**compare, "label": "run"}, {**align(compare, data), "label": "beside it, run"}]
    payload = json.dumps(panels, default=_plain).replace("</", "<\\/")
    heading = escape(title or f"timeline of {data['root_id']}")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{heading}</title><style>{_STYLE}</style></head><body>"
        f"<main>{''.join(_panel(panel) for panel in panels)}</main>"
        "<div id='details'>click a bar for its inputs, result and error</div>"
        f"<script type='application/json' id='timeline-data'>{payload}</script>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def timeline_html(db: Database, root_id: str, compare: str | None = None) -> str:
    """The timeline page of ``root_id``'s subtree, read from the log; with ``compare``
    (the root of another run, such as the fork's source), both side by side."""
    other = None if compare is None else timeline(db, compare)
    return render_timeline(timeline(db, root_id), compare=other)
