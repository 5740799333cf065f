"""TreeSupervisor: the actor that runs one tree and is the only writer of its events.

A thin pykka actor that wires three parts together, each with one job:

- ``Scheduler`` (pure) decides which tasks may start and which fail for a dependency;
- ``ChangeRecorder`` writes the run's changes to the log in group commits;
- ``LoopBridge`` runs the started jobs on the application's asyncio loop.

Record before acting: a task's start is committed before its executor is entered, and
observers (stream events, cancel answers, the run's summary) hear of a change only after
it is committed. The supervisor's own thread does the scheduling and hands each batch
of changes to the database thread, going on with the next while it is written (its
commit comes back as a message); executors, hooks and observers run on the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import suppress
from functools import partial
from typing import Any
from uuid import UUID

import pykka

from aipartnerupflow.actors.bridge import LoopBridge
from aipartnerupflow.actors.job import JobRunner, merged_inputs, plan_job
from aipartnerupflow.actors.messages import (
    Abandon,
    Cancel,
    Committed,
    HookFailed,
    InputsChanged,
    Job,
    Outcome,
    Outcomes,
    Progress,
    Retrying,
    Start,
    Stopped,
)
from aipartnerupflow.actors.recorder import Change, ChangeKind, ChangeRecorder
from aipartnerupflow.actors.registry import ExtensionRegistry
from aipartnerupflow.actors.reports import (
    RunSummary,
    StreamEvent,
    cancel_refused,
    cancelled,
    cancelled_result,
    final_event,
    run_summary,
    task_event,
)
from aipartnerupflow.actors.scheduler import Blocked, Scheduler
from aipartnerupflow.actors.waiting import wait_expired
from aipartnerupflow.errors import InputTimeoutError, LeaseLostError
from aipartnerupflow.events.domain.status import TaskStatus
from aipartnerupflow.events.store.database import LogDatabase
from aipartnerupflow.events.store.leases import Lease
from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.supervisor")

Observer = Callable[[list[StreamEvent]], None]
Done = Callable[[RunSummary | BaseException], None]


class Ended(Mapping[str, Any]):
    """What a run reads of a task once it has ended: its outcome (dependents' inputs, the
    summary) and its attempt (should late news of it come in). Slotted: a run of 100k
    tasks keeps one for each, in a quarter of a dict's memory."""

    __slots__ = ("attempt", "error", "result", "status")

    def __init__(self, status: str, result: Any, error: str | None, attempt: int) -> None:
        self.status, self.result, self.error, self.attempt = status, result, error, attempt

    def __getitem__(self, key: str) -> Any:
        if key not in self.__slots__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__slots__)

    def __len__(self) -> int:
        return len(self.__slots__)


class TreeSupervisor(pykka.ThreadingActor):
    """Runs the subtree of ``root_id``: schedules, records, reports, then stops.

    ``observer`` gets the stream events and ``on_done`` the run's summary (or the error
    that ended the supervisor), both called on ``loop``.
    """

    use_daemon_thread = True  # an interpreter exit never waits on a tree

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
        on_done: Done,
        lease: Lease | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.tree_id = tree_id
        self.tree_name = str(tree_id)  # for the log line of every task
        self.root_id = root_id
        self.loop = loop
        self.registry = registry
        self.max_concurrency = max_concurrency
        self.cause = cause
        self.observer = observer
        self.on_done = on_done
        runner = JobRunner(registry, pre_hooks, post_hooks, instances, self._tell_self)
        self.bridge = LoopBridge(loop, runner, lambda done: self._tell_self(Outcomes(done)))
        self.recorder = ChangeRecorder(db, tree_id, self._committed, lease=lease)
        self._scheduler: Scheduler | None = None
        # Task states by id: the tree's own, shared with the database thread and only read
        # here, until the run changes a task (only calls such as update_task change them
        # meanwhile); then the run's copy (``_own``); once the task ends, ``Ended``.
        self.states: dict[str, Mapping[str, Any]] = {}
        self._owned: set[str] = set()
        self.started_at: dict[str, float] = {}  # launched jobs, until their task ends
        self.unlaunched = 0  # jobs whose start waits for the next commit
        self.stopping: set[str] = set()  # running tasks a cancel is stopping
        self.finished = False
        self._pinned = False  # the tree stays in the log's cache while this run lives

    @property
    def scheduler(self) -> Scheduler:
        assert self._scheduler is not None, "the run has not started"
        return self._scheduler

    def _tell_self(self, message: object) -> None:
        # Late news (an outcome after a failure stopped the run) has nobody to go to.
        with suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)

    def _to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        # A closed loop means the application is gone and nobody is listening any more.
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------- lifecycle

    def on_receive(self, message: Any) -> Any:
        if self.finished:
            return None  # late news of an abandoned run: nothing more is recorded
        if isinstance(message, Abandon):
            self._abandon(message.error)
            return None
        if isinstance(message, Committed):
            try:
                self.recorder.arrived(message.future)
            except LeaseLostError as exc:
                self._abandon(exc)
                return None
        elif isinstance(message, Start):
            self._start()
        elif isinstance(message, Outcomes):
            for outcome in message.outcomes:
                self._on_outcome(outcome)
        elif isinstance(message, Progress):
            if self._is_running(message.task_id):
                self._record(message.task_id, "progress", {"progress": message.progress})
        elif isinstance(message, InputsChanged):
            cause = {**self.cause, "hook": message.hook}
            self._record(message.task_id, "inputs", {"inputs": message.inputs}, cause)
        elif isinstance(message, Retrying):
            if self._is_running(message.task_id):
                failed = message.failed
                values = {
                    "attempt": message.attempt - 1,
                    "error": failed.error,
                    "error_type": failed.error_type,
                    "traceback": failed.traceback,
                }
                self._record(message.task_id, "attempt_failed", values)
                self._record(message.task_id, "start", {"attempt": message.attempt})
                self._own(message.task_id)["attempt"] = message.attempt
            self.recorder.then(message.recorded)
        elif isinstance(message, HookFailed):
            values = {"hook": message.hook, "error": message.error}
            self._record(message.task_id, "hook_failed", values)
        elif isinstance(message, Cancel):
            self._cancel(message)
        elif isinstance(message, Stopped):
            self._stopped(message)
        self._start_ready()
        if self.recorder.due or self.actor_inbox.empty() or self._starved():
            self.recorder.send(self._arrived)
            self._finish_if_done()
        return None

    def _arrived(self, future: Future[Any]) -> None:
        # On the database thread: the commit's outcome is handled in turn, as a message.
        self._tell_self(Committed(future))

    def _abandon(self, error: BaseException) -> None:
        """Stop every running executor and end without recording anything more: another
        process took the tree over, or this one is shutting down."""
        # Losing the tree to another owner is news; a shutdown asked for is not.
        report = log.warning if isinstance(error, LeaseLostError) else log.info
        report("tree_abandoned", tree_id=str(self.tree_id), reason=str(error))
        self.recorder.discard()
        self._to_loop(self.bridge.stop_all)
        self._notify_done(error)
        self.actor_ref.stop(block=False)

    def on_stop(self) -> None:
        self._unpin()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._unpin()
        log.error("supervisor_failed", tree_id=str(self.tree_id), error=repr(exception_value))
        self._to_loop(self.bridge.stop_all)
        self._notify_done(exception_value)

    def _notify_done(self, outcome: RunSummary | BaseException) -> None:
        if self.finished:
            return
        self.finished = True
        self._to_loop(self.on_done, outcome)

    def _finish_if_done(self) -> None:
        if self.finished or not self.scheduler.done or not self.recorder.settled:
            return
        root = self.states[self.root_id]
        statuses = (self.states[task_id]["status"] for task_id in self.scheduler.run_ids)
        summary = run_summary(self.root_id, root["result"], statuses)
        if self.observer is not None:
            self._to_loop(self.observer, [final_event(summary, root["error"])])
        self._notify_done(summary)
        self.actor_ref.stop(block=False)

    # ------------------------------------------------------------- scheduling

    def _start(self) -> None:
        for task_id, error in self.db.call(self._plan):
            self._record_end(Outcome.failure(task_id, error))
        self._fail_blocked(self.scheduler.begin())

    def _plan(self) -> list[tuple[str, InputTimeoutError]]:
        """Take the run's task states and plan the run; returns the waits past their
        ``params.input_timeout``, which end now, before anything starts. Runs on the
        database thread, so no change of the tree lands while the states are read."""
        self.db.log.pin(self.tree_id)
        self._pinned = True
        tree = self.db.log.load(self.tree_id)
        # No copy of each state: a run of 100k tasks would hold them all at once.
        self.states = dict(tree.tasks)
        run_ids = [self.root_id, *tree.descendant_ids(self.root_id)]
        expired = [(t, e) for t in run_ids if (e := wait_expired(self.states[t])) is not None]
        for task_id, _ in expired:
            self._own(task_id)["status"] = TaskStatus.FAILED  # as the scheduler plans it
        self._scheduler = Scheduler(self.states, run_ids, self.max_concurrency)
        return expired

    def _unpin(self) -> None:
        if self._pinned:
            self._pinned = False
            self.db.log.unpin(self.tree_id)

    def _own(self, task_id: str) -> dict[str, Any]:
        """The run's own copy of a task's state, made the first time the run changes it
        (one C call, so no change on the database thread lands halfway through it)."""
        state = self.states[task_id]
        assert isinstance(state, dict), "an ended task is not changed"
        if task_id not in self._owned:
            state = self.states[task_id] = state.copy()
            self._owned.add(task_id)
        return state

    def _starved(self) -> bool:
        """Jobs wait for a commit while no executor runs: committing now beats a bigger
        batch, which would leave the loop idle meanwhile."""
        return self.unlaunched > 0 and not self.started_at

    def _is_running(self, task_id: str) -> bool:
        return task_id in self.scheduler.running and task_id not in self.stopping

    def _start_ready(self) -> None:
        """Record the starts of the tasks the scheduler lets go; run them once committed."""
        if self._scheduler is None:
            return
        jobs = [self._job(task_id) for task_id in self.scheduler.take_ready()]
        if jobs:
            self.unlaunched += len(jobs)
            self.recorder.then(partial(self._launch, jobs))

    def _job(self, task_id: str) -> Job:
        state = self._own(task_id)
        inputs = merged_inputs(state, self.states)
        if inputs != state["inputs"]:
            self._record(task_id, "inputs", {"inputs": inputs})
            state["inputs"] = inputs
        attempt = state["attempt"] + 1
        self._record(task_id, "start", {"attempt": attempt})
        state.update(status=TaskStatus.IN_PROGRESS, attempt=attempt)
        return plan_job(state, self.tree_id, self.registry)

    def _launch(self, jobs: list[Job]) -> None:
        self.unlaunched -= len(jobs)
        now = time.monotonic()
        for job in jobs:
            self.started_at[job.task.id] = now
        self._to_loop(self.bridge.start, jobs)

    def _on_outcome(self, outcome: Outcome) -> None:
        if not self._is_running(outcome.task_id):
            return  # ended by a cancel, which records it when the job has stopped
        self._ended(outcome)

    def _ended(self, outcome: Outcome, cause: dict[str, Any] | None = None) -> None:
        """A running task ended: record it and fail what can no longer run because of it."""
        self._record_end(outcome, cause)
        self._fail_blocked(self.scheduler.finish(outcome.task_id, outcome.status))

    def _fail_blocked(self, blocked: list[Blocked]) -> None:
        for task in blocked:
            self._record_end(Outcome.failure(task.task_id, task.error))

    def _record_end(self, outcome: Outcome, cause: dict[str, Any] | None = None) -> None:
        values = {
            "result": outcome.result,
            "error": outcome.error,
            "error_type": outcome.error_type,
            "traceback": outcome.traceback,
        }
        values = {k: v for k, v in values.items() if v is not None}
        self._record(outcome.task_id, "finish", {"status": outcome.status, **values}, cause)
        attempt = self.states[outcome.task_id]["attempt"]
        self.states[outcome.task_id] = Ended(outcome.status, outcome.result, outcome.error, attempt)
        self._owned.add(outcome.task_id)
        started = self.started_at.pop(outcome.task_id, None)
        log.info(
            "task_" + outcome.status,
            tree_id=self.tree_name,
            task_id=outcome.task_id,
            attempt=attempt,
            duration=None if started is None else round(time.monotonic() - started, 6),
            error=outcome.error,
        )

    # ------------------------------------------------------------- cancelling

    def _cancel(self, request: Cancel) -> None:
        status = self.scheduler.status.get(request.task_id)
        if status is None or TaskStatus.is_terminal(status):
            # Answered after the commit: the status it reports may still be pending.
            self.recorder.then(partial(request.reply, cancel_refused(request.task_id, status)))
            return
        scope = self.db.call(lambda: self.db.log.load(self.tree_id).cancel_scope(request.task_id))
        done = self.scheduler.cancel(scope)
        cause = {**request.cause, "reason": request.message}
        for task_id in done.now:
            self._record_end(Outcome(task_id, TaskStatus.CANCELLED, error=request.message), cause)
        self._fail_blocked(done.blocked)
        hit = {*done.now, *done.to_stop}
        victims = [task_id for task_id in scope if task_id in hit]
        if not done.to_stop:
            answer = cancelled(request.task_id, request.message, victims)
            self.recorder.then(partial(request.reply, answer))
            return
        self.stopping.update(done.to_stop)
        reported = partial(self._reports_arrived, request, victims, done.to_stop)
        self._to_loop(self.bridge.ask_reports, done.to_stop, reported)

    def _reports_arrived(
        self, request: Cancel, victims: list[str], stopped: list[str], reports: dict[str, Any]
    ) -> None:
        # Runs on the loop thread.
        self._tell_self(Stopped(request, victims, stopped, reports))

    def _stopped(self, message: Stopped) -> None:
        request = message.request
        cause = {**request.cause, "reason": request.message}
        for task_id in message.stopped:
            self.stopping.discard(task_id)
            result = cancelled_result(message.reports.get(task_id))
            outcome = Outcome(task_id, TaskStatus.CANCELLED, result, request.message)
            self._ended(outcome, cause)
        report = message.reports.get(request.task_id)
        answer = cancelled(request.task_id, request.message, message.victims, report)
        self.recorder.then(partial(request.reply, answer))
        # Recorded, then acted on: the jobs stop once their cancel is committed (after the
        # answer, which waits on nothing they do).
        self.recorder.then(partial(self._to_loop, self.bridge.stop, message.stopped))

    # ---------------------------------------------------------------- writing

    def _record(
        self,
        task_id: str,
        kind: ChangeKind,
        values: dict[str, Any],
        cause: dict[str, Any] | None = None,
    ) -> None:
        self.recorder.record(Change(task_id, kind, cause or self.cause, values))

    def _committed(self, applied: list[Change]) -> None:
        if self.observer is None:
            return
        events = [task_event(self.root_id, c.task_id, c.values) for c in applied if c.streamed]
        if events:
            self._to_loop(self.observer, events)
