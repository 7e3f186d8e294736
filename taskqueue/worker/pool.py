"""Execution pools: where task bodies run, so the poll loop never does.

Both pools report through one thread-safe queue of
:class:`~taskqueue.worker.events.PoolEvent` that the loop drains: STARTED
(thread pool only; a process child writes its STARTED state itself), then
DONE, LOST (the pool could not finish it: a child process died) or
CANCELLED (never started: its partition was revoked, or a cold shutdown).

Each submitted job gets a :class:`~concurrent.futures.Future` (``job.future``)
that the loop cancels to take back a job that has not started.
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..exceptions import TimeLimitExceeded
from ..message import Message
from ..states import FAILURE
from .events import EventKind, PoolEvent, PoolEvents, StartResult
from .execute import Outcome, error_info, execute, init_child, run_in_child
from .processes import ChildPool, PoolBroken, WorkerLostError
from .threads import TaskThreads

if TYPE_CHECKING:
    from ..app import TaskQueue
    from .jobs import Job

logger = logging.getLogger("taskqueue.worker")


class Pool:
    """Common bookkeeping: a size, a count of unfinished jobs, the event queue."""

    kind = "base"

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

    def shutdown(self, wait: bool, cancel: bool) -> None:
        raise NotImplementedError


class ThreadPool(Pool):
    kind = "threads"

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

    def shutdown(self, wait: bool, cancel: bool) -> None:
        self._threads.shutdown(wait=wait, cancel=cancel)


class ProcessPool(Pool):
    """Child processes from a fork server: no inherited Kafka/Redis sockets."""

    kind = "processes"

    def __init__(self, app_spec: str, size: int, events: PoolEvents) -> None:
        super().__init__(size, events)
        self._children = ChildPool(size, init_child, (app_spec,), name="taskqueue-child")

    def _submit(self, job: Job) -> Future[Outcome]:
        try:
            return self._children.submit(
                run_in_child, job.data, job.delivery_info(), job.redelivered
            )
        except PoolBroken:
            logger.critical("process pool is broken; the worker must restart")
            raise

    def shutdown(self, wait: bool, cancel: bool) -> None:
        # wait=False (cold shutdown): children are terminated, their jobs
        # come back CANCELLED and are redelivered.
        self._children.shutdown(wait=wait, cancel=cancel)
