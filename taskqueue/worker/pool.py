"""Execution pools: where task bodies run, so the poll loop never does.

Both pools report through one thread-safe queue of
:class:`~taskqueue.worker.events.PoolEvent` that the loop drains: STARTED
(thread pool only; a process child writes its STARTED state itself), then
DONE, LOST (the pool could not finish it: a broken pool, or a job that
kept killing its child process) or CANCELLED (never started: its partition
was revoked, or a cold shutdown).

Each submitted job gets a :class:`~concurrent.futures.Future` (``job.future``)
that the loop cancels to take back a job that has not started.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..control.terminate import register_stopper, unregister_stopper
from ..exceptions import TaskRevokedError, TimeLimitExceeded
from ..message import Message
from ..policies.timelimits import ABANDON_GRACE, limits_of
from ..states import FAILURE, REVOKED
from .events import EventKind, PoolEvent, PoolEvents, StartResult
from .execute import Outcome, error_info, execute, init_child, run_in_child
from .processes import CallTimedOut, ChildPool, PoolBroken, WorkerLostError
from .threads import TaskThreads

if TYPE_CHECKING:
    from ..app import TaskQueue
    from .jobs import Job

logger = logging.getLogger("taskqueue.worker")


MAX_POOL_SIZE = 1024
"""Most threads or processes a pool may be resized to: more is a typo (one
``pool_grow(10000)`` would otherwise start ten thousand threads)."""


class Pool:
    """Common bookkeeping: a size, a count of unfinished jobs, the event queue."""

    kind = "base"
    unit = "slot"

    def __init__(self, size: int, events: PoolEvents) -> None:
        self.size = size
        self.events = events
        self.unfinished = 0  # touched by the loop thread only

    def submit(self, job: Job) -> None:
        self.unfinished += 1
        future = job.future = self._submit(job)
        future.add_done_callback(functools.partial(self._finished, job))

    def _finished(self, job: Job, future: Future[Outcome]) -> None:
        if future.cancelled():
            self.events.put(PoolEvent(EventKind.CANCELLED, job))
            return
        exc = future.exception()
        if isinstance(exc, WorkerLostError) and exc.shutdown:
            # Terminated by a cold shutdown: not the job's fault; it stays
            # uncommitted and runs again.
            self.events.put(PoolEvent(EventKind.CANCELLED, job))
            return
        if exc is not None:  # the pool itself failed (e.g. a child died)
            logger.error(
                "pool failed running job %s (%s): %s", job.message.id, job.message.task, exc
            )
            now = time.time()
            outcome = Outcome(FAILURE, error=error_info(exc), started_at=now, finished_at=now)
            self.events.put(PoolEvent(EventKind.LOST, job, outcome))
            return
        self.events.put(PoolEvent(EventKind.DONE, job, future.result()))

    def _submit(self, job: Job) -> Future[Outcome]:
        raise NotImplementedError

    def resize(self, size: int) -> None:
        """Run ``size`` threads or processes from now on (see :func:`check_size`);
        running bodies are never cut short by a shrink."""
        check_size(size, self.unit)
        self._resize(size)
        self.size = size

    def _resize(self, size: int) -> None:
        raise NotImplementedError

    def shutdown(self, wait: bool, cancel: bool) -> None:
        raise NotImplementedError


class ThreadPool(Pool):
    kind = "threads"
    unit = "thread"

    def __init__(self, app: TaskQueue, size: int, events: PoolEvents) -> None:
        super().__init__(size, events)
        self.app = app
        self._threads = TaskThreads(size, name="taskqueue-task")

    def _started(self, job: Job) -> Any:
        def report(message: Message, at: float) -> StartResult:
            self.events.put(PoolEvent(EventKind.STARTED, job, at=at))
            return StartResult.QUEUED

        return report

    def _submit(self, job: Job) -> Future[Outcome]:
        return self._threads.submit(
            functools.partial(
                execute,
                self.app,
                job.message,
                job.delivery_info(),
                job.redelivered,
                self._started(job),
                functools.partial(self._abandon, job),
            )
        )

    def _abandon(self, job: Job) -> None:
        """A body outlived its hard time limit: fail the job now, replace the thread.

        Runs in the time-limit watchdog. The thread keeps running until its
        blocking call returns (Python cannot kill it); its result is dropped.
        """
        assert job.future is not None
        error = TimeLimitExceeded(f"{job.message.task} did not stop at its time limit")
        outcome = Outcome(FAILURE, error=error_info(error), finished_at=time.time())
        if self._threads.abandon(job.future, outcome):
            job.abandoned = True

    def _resize(self, size: int) -> None:
        self._threads.resize(size)

    def shutdown(self, wait: bool, cancel: bool) -> None:
        self._threads.shutdown(wait=wait, cancel=cancel)


class ProcessPool(Pool):
    """Child processes from a fork server: no inherited Kafka/Redis sockets.

    A child that dies running a job (SIGKILL, the OOM killer, a crash in C
    code) does not finish the job: no state, no ack. The job runs again in a
    new child, unless that attempt has killed ``max_child_deaths`` children
    (counted in the state store, so a worker that takes the job over goes on
    counting): then it is a poison job, FAILURE and dead-lettered with
    reason ``poison``. A child killed on purpose is not such a death: a
    revoke with ``terminate`` (REVOKED) or a body past its hard time limit
    that the child's own alarm could not stop (FAILURE ``TimeLimitExceeded``).
    """

    kind = "processes"
    unit = "process"

    def __init__(
        self,
        app: TaskQueue,
        app_spec: str,
        size: int,
        events: PoolEvents,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
    ) -> None:
        super().__init__(size, events)
        self.app = app
        self._children = ChildPool(
            size,
            init_child,
            (app_spec,),
            name="taskqueue-child",
            max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child=max_memory_per_child,
        )
        # Deaths seen by this worker, should the state store not answer.
        self._deaths: dict[Job, int] = {}

    def submit(self, job: Job) -> None:
        self.unfinished += 1
        try:
            self._run(job)
        except PoolBroken:
            logger.critical("process pool is broken; the worker must restart")
            raise

    def _run(self, job: Job) -> None:
        task = self.app.tasks.get(job.message.task)
        _, hard = limits_of(
            task.options if task is not None else {}, self.app.settings.task_time_limit or None
        )
        # The child's own alarm stops the body at the limit; killing the
        # child is the backstop for a body stuck where the alarm cannot reach.
        timeout = None if hard is None else hard + ABANDON_GRACE
        future = self._children.submit(
            run_in_child, job.data, job.delivery_info(), job.redelivered, timeout=timeout
        )
        job.future = future
        stop = functools.partial(
            self._children.kill, future, TaskRevokedError("terminated by a revoke")
        )
        register_stopper(job.message.id, stop)
        future.add_done_callback(functools.partial(self._ended, job, stop))

    def _ended(self, job: Job, stop: Callable[[], bool], future: Future[Outcome]) -> None:
        """A call's future settled (in the pool's manager thread, or a cancel)."""
        unregister_stopper(job.message.id, stop)
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, WorkerLostError) and not exc.shutdown:
            self._child_died(job, exc)
            return
        self._deaths.pop(job, None)
        now = time.time()
        if isinstance(exc, TaskRevokedError):
            error = {"exc_type": "Revoked", "exc_message": str(exc)}
            outcome = Outcome(REVOKED, error=error, started_at=now, finished_at=now)
            self.events.put(PoolEvent(EventKind.DONE, job, outcome))
        elif isinstance(exc, CallTimedOut):
            logger.error(
                "job %s (%s): body did not stop at its hard time limit; its child was killed",
                job.message.id,
                job.message.task,
            )
            limit = TimeLimitExceeded(
                f"{job.message.task} did not stop at its time limit; its pool process was killed"
            )
            outcome = Outcome(FAILURE, error=error_info(limit), started_at=now, finished_at=now)
            self.events.put(PoolEvent(EventKind.DONE, job, outcome))
        else:
            self._finished(job, future)

    def _child_died(self, job: Job, exc: WorkerLostError) -> None:
        """Run the job again in a new child, or give it up as poison."""
        m = job.message
        local = self._deaths[job] = self._deaths.get(job, 0) + 1
        try:
            counted = self.app.state.count_child_death(m.id, m.retries, self.app.settings.state_ttl)
        except Exception as store_error:  # counted here all the same
            logger.error(
                "job %s: child death not counted in the state store: %s", m.id, store_error
            )
            counted = 0
        deaths, limit = max(local, counted), self.app.settings.max_child_deaths
        if job.released:
            # Its partition moved meanwhile: the new owner runs it (the
            # death is counted in the store, so the new owner goes on counting).
            self._deaths.pop(job, None)
            self.events.put(PoolEvent(EventKind.CANCELLED, job))
            return
        if deaths < limit:
            logger.warning(
                "job %s (%s): %s; running it again (%d of %d deaths allowed)",
                m.id,
                m.task,
                exc,
                deaths,
                limit,
            )
            job.redelivered = True  # this attempt already left a trace
            try:
                self._run(job)
            except PoolBroken:  # shutting down: unacked, the next owner runs it
                self._deaths.pop(job, None)
                self.events.put(PoolEvent(EventKind.CANCELLED, job))
            return
        self._deaths.pop(job, None)
        logger.error("job %s (%s): poison, %d pool processes died running it", m.id, m.task, deaths)
        now = time.time()
        error = {
            "exc_type": "WorkerLostError",
            "exc_message": f"poison job: {deaths} pool processes died running it; the last: {exc}",
        }
        outcome = Outcome(
            FAILURE,
            error=error,
            started_at=now,
            finished_at=now,
            dead_reason="poison",
            dead_headers=(("tq-dead-child-deaths", str(deaths).encode()),),
        )
        self.events.put(PoolEvent(EventKind.LOST, job, outcome))

    def _resize(self, size: int) -> None:
        self._children.resize(size)

    def shutdown(self, wait: bool, cancel: bool) -> None:
        # wait=False (cold shutdown): children are terminated, their jobs
        # come back CANCELLED and are redelivered.
        self._children.shutdown(wait=wait, cancel=cancel)


def check_size(size: int, unit: str = "slot") -> None:
    """Refuse a pool size below 1 or above :data:`MAX_POOL_SIZE`, saying which."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"a pool size is a whole number of {unit}s, not {size!r}")
    if size < 1:
        raise ValueError(f"the pool keeps at least one {unit}; {size} was asked")
    if size > MAX_POOL_SIZE:
        raise ValueError(
            f"{size} {unit}s is more than the most a pool may have ({MAX_POOL_SIZE}, MAX_POOL_SIZE)"
        )
