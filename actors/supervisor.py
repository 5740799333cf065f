"""TreeSupervisor: the actor that runs one tree and is the only writer of its events.

It keeps the run's scheduling state in memory (what waits, what is ready, what runs),
records every change through the event log with group commit (one transaction when
its inbox runs dry or enough changes are pending), and only then tells observers.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pykka

from aipartnerupflow.actors.job import JobRunner
from aipartnerupflow.actors.messages import (
    Cancel,
    CancelJobs,
    HookFailed,
    InputsChanged,
    Job,
    Outcome,
    Outcomes,
    Progress,
    Retrying,
    RunJobs,
    Start,
)
from aipartnerupflow.actors.registry import ExtensionRegistry, resolve_executor_id
from aipartnerupflow.actors.task_actor import LoopBridge, TaskActor
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.domain.tree import TaskTree
from aipartnerupflow.events.store.database import LogDatabase
from aipartnerupflow.events.store.log import Work
from aipartnerupflow.logs import get_logger
from aipartnerupflow.projections.models import TaskModel
from aipartnerupflow.projections.tree_node import derive_progress, derive_status

log = get_logger("aipartnerupflow.supervisor")

Observer = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class _CancelReports:
    request: Cancel
    running: list[str]
    reports: dict[str, Any]


@dataclass
class _Change:
    """One change to record: ``apply`` runs on the database thread, inside the commit."""

    task_id: str
    kind: str
    cause: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)

    def apply(self, tree: TaskTree) -> bool:
        state = tree.tasks.get(self.task_id)
        if state is None:
            return False
        status = state["status"]
        if self.kind == "start":
            if status not in TaskStatus.ACTIVE:
                return False
            tree.set_status(self.task_id, TaskStatus.IN_PROGRESS, self.cause, **self.values)
        elif self.kind == "progress":
            if status != TaskStatus.IN_PROGRESS:
                return False
            tree.set_status(self.task_id, TaskStatus.IN_PROGRESS, self.cause, **self.values)
        elif self.kind == "finish":
            # Exactly-once recording: an outcome only ends a task that is still active.
            if status not in TaskStatus.ACTIVE:
                return False
            tree.set_status(
                self.task_id,
                self.values["status"],
                self.cause,
                **{k: v for k, v in self.values.items() if k != "status"},
            )
        elif self.kind == "inputs":
            tree.update_field(self.task_id, "inputs", self.values["inputs"], self.cause)
        elif self.kind == "hook_failed":
            tree.record_hook_failure(
                self.task_id, self.values["hook"], self.values["error"], self.cause
            )
        return True


_STREAM_TYPES = {
    TaskStatus.IN_PROGRESS: "task_start",
    TaskStatus.COMPLETED: "task_completed",
    TaskStatus.FAILED: "task_failed",
    TaskStatus.CANCELLED: "task_cancelled",
}


class TreeSupervisor(pykka.ThreadingActor):
    """Runs the subtree of ``root_id``: schedules, records, reports, then stops."""

    use_daemon_thread = True  # an interpreter exit never waits on a tree
    flush_every = 1000
    lanes = 4

    def __init__(
        self,
        db: LogDatabase,
        tree_id: UUID,
        root_id: str,
        loop: asyncio.AbstractEventLoop,
        *,
        registry: ExtensionRegistry,
        pre_hooks: list[Any],
        post_hooks: list[Any],
        instances: dict[str, Any],
        max_concurrency: int,
        cause: dict[str, Any],
        observer: Observer | None,
        on_done: Callable[[dict[str, Any] | BaseException], None],
    ) -> None:
        super().__init__()
        self.db = db
        self.tree_id = tree_id
        self.root_id = root_id
        self.loop = loop
        self.registry = registry
        self.max_concurrency = max(1, max_concurrency)
        self.cause = cause
        self.observer = observer
        self.on_done = on_done
        self.runner = JobRunner(registry, pre_hooks, post_hooks, instances, self._tell_self)
        self.bridge = LoopBridge(
            loop, self.runner, lambda outcomes: self._tell_self(Outcomes(outcomes))
        )
        self.task_actors: list[pykka.ActorRef[TaskActor]] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.run_ids: list[str] = []
        self.waiting: dict[str, int] = {}  # task id -> dependencies not yet terminal
        self.dependents: dict[str, list[str]] = {}
        self.ready: list[tuple[int, int, str]] = []
        self.sequence = itertools.count()
        self.cancelling: set[str] = set()
        self.running: dict[str, int] = {}  # task id -> index of its task actor
        self.started_at: dict[str, float] = {}
        self.pending: list[_Change] = []
        self.replies: list[tuple[Callable[[dict[str, Any]], None], dict[str, Any]]] = []
        self.finished = False

    def _tell_self(self, message: object) -> None:
        self.actor_ref.tell(message)

    # ------------------------------------------------------------- lifecycle

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Start):
            self._start()
        elif isinstance(message, Outcomes):
            for outcome in message.outcomes:
                self._on_outcome(outcome)
        elif isinstance(message, Progress):
            if message.task_id in self.running:
                self._record(message.task_id, "progress", {"progress": message.progress})
        elif isinstance(message, InputsChanged):
            self._record(
                message.task_id,
                "inputs",
                {"inputs": message.inputs},
                {**self.cause, "hook": message.hook},
            )
        elif isinstance(message, Retrying):
            if message.task_id in self.running:
                self._record(message.task_id, "start", {"attempt": message.attempt})
                self.states[message.task_id]["attempt"] = message.attempt
        elif isinstance(message, HookFailed):
            self._record(
                message.task_id, "hook_failed", {"hook": message.hook, "error": message.error}
            )
        elif isinstance(message, Cancel):
            self._cancel(message)
        elif isinstance(message, _CancelReports):
            self._cancelled_running(message)
        self._dispatch()
        if len(self.pending) >= self.flush_every or self.actor_inbox.empty():
            self._flush()
            self._finish_if_done()
        return None

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        log.error("supervisor_failed", tree_id=str(self.tree_id), error=repr(exception_value))
        self._stop_task_actors()
        self._notify_done(exception_value)

    def _notify_done(self, outcome: dict[str, Any] | BaseException) -> None:
        if self.finished:
            return
        self.finished = True
        self._to_loop(self.on_done, outcome)

    def _to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        # A closed loop means the application is gone and nobody is listening any more.
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(fn, *args)

    def _stop_task_actors(self) -> None:
        for ref in self.task_actors:
            ref.stop(block=False)
        self.task_actors = []

    # ------------------------------------------------------------- scheduling

    def _start(self) -> None:
        tree_tasks, run_ids = self.db.call(self._load)
        self.states = tree_tasks
        self.run_ids = run_ids
        run_set = set(run_ids)
        for task_id in run_ids:
            state = self.states[task_id]
            if state["status"] == TaskStatus.IN_PROGRESS:
                # Started before a crash, with no outcome: at-least-once, run it again.
                state["status"] = TaskStatus.PENDING
            if state["status"] != TaskStatus.PENDING:
                continue
            unmet = 0
            for dep in state["dependencies"]:
                dep_state = self.states.get(dep["id"])
                if dep_state is None or TaskStatus.is_terminal(dep_state["status"]):
                    continue
                if dep["id"] not in run_set:
                    self._finish(
                        task_id,
                        TaskStatus.FAILED,
                        error=(
                            f"dependency {dep['id']!r} is {dep_state['status']} and not part of "
                            "this run"
                        ),
                        error_type="DependencyError",
                    )
                    break
                unmet += 1
                self.dependents.setdefault(dep["id"], []).append(task_id)
            else:
                self.waiting[task_id] = unmet
                if unmet == 0:
                    self._became_ready(task_id)

    def _load(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        tree = self.db.log.load(self.tree_id)
        states = {task_id: dict(state) for task_id, state in tree.tasks.items()}
        return states, [self.root_id, *tree.descendant_ids(self.root_id)]

    def _became_ready(self, task_id: str) -> None:
        state = self.states[task_id]
        for dep in state["dependencies"]:
            dep_status = self.states[dep["id"]]["status"]
            if dep["required"] and dep_status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                del self.waiting[task_id]
                self._finish(
                    task_id,
                    TaskStatus.FAILED,
                    error=f"required dependency {dep['id']!r} {dep_status}",
                    error_type="DependencyFailedError",
                )
                return
        heapq.heappush(self.ready, (state["priority"], next(self.sequence), task_id))

    def _dispatch(self) -> None:
        # Each task actor is a thread: start only as many as there is work for.
        wanted = min(self.lanes, len(self.running) + len(self.ready), self.max_concurrency)
        while len(self.task_actors) < wanted:
            self.task_actors.append(TaskActor.start(self.bridge))
        batches: dict[int, list[Job]] = {}
        while self.ready and len(self.running) < self.max_concurrency:
            _, _, task_id = heapq.heappop(self.ready)
            if task_id not in self.waiting:
                continue
            del self.waiting[task_id]
            job = self._job(task_id)
            lane = len(self.started_at) % len(self.task_actors)
            self.running[task_id] = lane
            self.started_at[task_id] = time.monotonic()
            batches.setdefault(lane, []).append(job)
        for lane, jobs in batches.items():
            self.task_actors[lane].tell(RunJobs(jobs))

    def _job(self, task_id: str) -> Job:
        state = self.states[task_id]
        inputs = self._merged_inputs(state)
        if inputs != state["inputs"]:
            self._record(task_id, "inputs", {"inputs": inputs})
            state["inputs"] = inputs
        attempt = state["attempt"] + 1
        self._record(task_id, "start", {"attempt": attempt})
        state.update(status=TaskStatus.IN_PROGRESS, attempt=attempt)
        # Hooks and executors get their own copies: they may mutate what they are given.
        task = TaskModel.detached_copy(state, self.tree_id)
        executor_id, registered = resolve_executor_id(task, self.registry)
        params = state["params"]
        return Job(
            task=task,
            executor_id=executor_id,
            registered=registered,
            attempt=attempt,
            max_retries=int(params.get("max_retries", 0) or 0),
            retry_delay=float(params.get("retry_delay", 0.5)),
            timeout=float(params["timeout"]) if params.get("timeout") else None,
        )

    def _merged_inputs(self, state: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(state["inputs"])
        properties = (state["schemas"].get("input_schema") or {}).get("properties")
        for dep in state["dependencies"]:
            dep_state = self.states[dep["id"]]
            if dep_state["status"] != TaskStatus.COMPLETED:
                continue
            result = dep_state["result"]
            if isinstance(result, dict) and isinstance(result.get("result"), dict):
                result = result["result"]
            if properties and isinstance(result, dict):
                inputs.update({k: v for k, v in result.items() if k in properties})
            else:
                inputs[dep["id"]] = result
        return inputs

    def _on_outcome(self, outcome: Outcome) -> None:
        if self.running.pop(outcome.task_id, None) is None:
            return  # already ended by a cancel
        self._finish(
            outcome.task_id,
            outcome.status,
            result=outcome.result,
            error=outcome.error,
            error_type=outcome.error_type,
        )

    def _finish(
        self, task_id: str, status: str, cause: dict[str, Any] | None = None, **values: Any
    ) -> None:
        values = {k: v for k, v in values.items() if v is not None}
        self._record(task_id, "finish", {"status": status, **values}, cause)
        state = self.states[task_id]
        state.update(status=status, result=values.get("result"), error=values.get("error"))
        started = self.started_at.get(task_id)
        log.info(
            "task_" + status,
            tree_id=str(self.tree_id),
            task_id=task_id,
            attempt=state["attempt"],
            duration=None if started is None else round(time.monotonic() - started, 6),
            error=values.get("error"),
        )
        for dependent in self.dependents.pop(task_id, ()):
            if dependent in self.waiting:
                self.waiting[dependent] -= 1
                if self.waiting[dependent] == 0:
                    self._became_ready(dependent)

    # ------------------------------------------------------------- cancelling

    def _cancel(self, request: Cancel) -> None:
        state = self.states.get(request.task_id)
        if state is None or TaskStatus.is_terminal(state["status"]):
            request.reply(
                {
                    "status": "failed",
                    "message": f"task {request.task_id!r} is already "
                    f"{state['status'] if state else 'gone'}",
                    "current_status": state["status"] if state else None,
                }
            )
            return
        victims = self._cancel_victims(request.task_id)
        cause = {**request.cause, "reason": request.message}
        running = [tid for tid in victims if tid in self.running]
        for task_id in victims:
            if task_id in self.waiting:
                del self.waiting[task_id]
                self._finish(task_id, TaskStatus.CANCELLED, cause, error=request.message)
        if not running:
            self._after_flush(request.reply, self._cancel_answer(request, victims, {}))
            return
        lanes: dict[int, list[str]] = {}
        for task_id in running:
            lanes.setdefault(self.running.pop(task_id), []).append(task_id)
        self.cancelling.update(running)
        replies: dict[str, Any] = {}
        remaining = [len(lanes)]

        def collect(reports: dict[str, Any]) -> None:  # called on the loop thread
            replies.update(reports)
            remaining[0] -= 1
            if remaining[0] == 0:
                self._tell_self(_CancelReports(request, running, replies))

        for lane, task_ids in lanes.items():
            self.task_actors[lane].tell(CancelJobs(task_ids, collect))

    def _cancel_victims(self, task_id: str) -> list[str]:
        """The active tasks of this run that the cancel reaches (see TaskTree.cancel_scope)."""
        scope = self.db.call(lambda: self.db.log.load(self.tree_id).cancel_scope(task_id))
        run_set = set(self.run_ids)
        return [
            tid
            for tid in scope
            if tid in run_set and TaskStatus.is_active(self.states[tid]["status"])
        ]

    def _cancelled_running(self, message: _CancelReports) -> None:
        cause = {**message.request.cause, "reason": message.request.message}
        for task_id in message.running:
            self.cancelling.discard(task_id)
            report = message.reports.get(task_id) or {}
            partial = report.get("partial_result", report.get("result"))
            self._finish(
                task_id,
                TaskStatus.CANCELLED,
                cause,
                error=message.request.message,
                result=None if partial is None else {"partial_result": partial, **_usage(report)},
            )
        self._after_flush(
            message.request.reply,
            self._cancel_answer(message.request, message.running, message.reports),
        )

    def _cancel_answer(
        self, request: Cancel, victims: list[str], reports: dict[str, Any]
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": "cancelled",
            "message": request.message,
            "task_id": request.task_id,
            "cancelled_task_ids": victims,
        }
        report = reports.get(request.task_id) or {}
        if isinstance(report, dict):
            if "partial_result" in report or "result" in report:
                answer["partial_result"] = report.get("partial_result", report.get("result"))
            if "token_usage" in report:
                answer["token_usage"] = report["token_usage"]
        return answer

    # ---------------------------------------------------------------- writing

    def _record(
        self, task_id: str, kind: str, values: dict[str, Any], cause: dict[str, Any] | None = None
    ) -> None:
        self.pending.append(_Change(task_id, kind, cause or self.cause, values))

    def _after_flush(self, reply: Callable[[dict[str, Any]], None], answer: dict[str, Any]) -> None:
        """Answer once the changes made so far are committed."""
        self.replies.append((reply, answer))

    def _flush(self) -> None:
        self._commit()
        replies, self.replies = self.replies, []
        for reply, answer in replies:
            reply(answer)

    def _commit(self) -> None:
        if not self.pending:
            return
        changes, self.pending = self.pending, []
        applied = self.db.call(self.db.log.run, lambda work: self._apply(work, changes))
        if self.observer is not None:
            events = [
                self._stream_event(change)
                for change, ok in zip(changes, applied, strict=True)
                if ok and change.kind in ("start", "progress", "finish")
            ]
            if events:
                self._emit(events)

    def _apply(self, work: Work, changes: list[_Change]) -> list[bool]:
        tree = work.tree(self.tree_id)
        return [change.apply(tree) for change in changes]

    def _stream_event(self, change: _Change) -> dict[str, Any]:
        status = change.values.get("status", TaskStatus.IN_PROGRESS)
        event: dict[str, Any] = {
            "type": "progress" if change.kind == "progress" else _STREAM_TYPES[status],
            "task_id": change.task_id,
            "root_task_id": self.root_id,
            "status": status,
            "timestamp": time.time(),
            "progress": change.values.get(
                "progress", 1.0 if status == TaskStatus.COMPLETED else 0.0
            ),
        }
        if "result" in change.values:
            event["result"] = change.values["result"]
        if "error" in change.values:
            event["error"] = change.values["error"]
        return event

    def _emit(self, events: list[dict[str, Any]]) -> None:
        assert self.observer is not None
        self._to_loop(self.observer, events)

    def _finish_if_done(self) -> None:
        if (
            self.finished
            or self.running
            or self.ready
            or self.waiting
            or self.pending
            or self.cancelling
        ):
            return
        run_states = [self.states[tid] for tid in self.run_ids]
        status = derive_status(s["status"] for s in run_states)
        root = self.states[self.root_id]
        summary = {
            "status": status,
            "progress": derive_progress((s["status"], 1.0) for s in run_states),
            "root_task_id": self.root_id,
            "result": root.get("result"),
            "task_count": len(self.run_ids),
        }
        if self.observer is not None:
            final = {
                "type": "final",
                "task_id": self.root_id,
                "root_task_id": self.root_id,
                "status": status,
                "timestamp": time.time(),
                "progress": summary["progress"],
                "result": summary["result"],
                "final": True,
            }
            if status == TaskStatus.FAILED:
                final["error"] = root.get("error") or "one or more tasks failed"
            self._emit([final])
        self._stop_task_actors()
        self._notify_done(summary)
        self.actor_ref.stop(block=False)


def _usage(report: dict[str, Any]) -> dict[str, Any]:
    return {"token_usage": report["token_usage"]} if "token_usage" in report else {}
