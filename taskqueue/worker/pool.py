"""Execution pools: where task bodies run, so the poll loop never does.

Both pools report through one thread-safe queue that the loop drains:
``("started", job, time)`` (thread pool only; a process child writes its
STARTED state itself) and ``("done", job, outcome)``.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import queue
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from ..exceptions import TimeLimitExceeded
from ..message import Message
from ..states import FAILURE
from .execute import Outcome, error_info, execute, init_child, run_in_child

if TYPE_CHECKING:
    from ..app import TaskQueue
    from .jobs import Job

logger = logging.getLogger("taskqueue.worker")

Events = "queue.SimpleQueue[tuple[str, Job, Any]]"


class Pool:
    """Common bookkeeping: a size, a count of unfinished jobs, the event queue."""

    kind = "base"

    def __init__(self, size: int, events: queue.SimpleQueue) -> None:  # type: ignore[type-arg]
        self.size = size
        self.events = events
        self.unfinished = 0  # touched by the loop thread only

    def submit(self, job: Job) -> None:
        self.unfinished += 1
        future = job.future = self._submit(job)
        future.add_done_callback(functools.partial(self._finished, job))

    def _finished(self, job: Job, future: Future) -> None:  # type: ignore[type-arg]
        if job.abandoned:
            return  # already reported FAILURE at its time limit; the late end is moot
        if future.cancelled():
            self.events.put(("cancelled", job, None))
            return
        exc = future.exception()
        if exc is not None:  # the pool itself failed (e.g. a child died)
            logger.error(
                "pool failed running job %s (%s): %r", job.message.id, job.message.task, exc
            )
            outcome = Outcome(
                FAILURE, error={"exc_type": type(exc).__name__, "exc_message": str(exc)}
            )
            self.events.put(("lost", job, outcome))
            return
        self.events.put(("done", job, future.result()))

    def _submit(self, job: Job) -> Future:  # type: ignore[type-arg]
        raise NotImplementedError

    def shutdown(self, wait: bool, cancel: bool) -> None:
        raise NotImplementedError


class ThreadPool(Pool):
    kind = "threads"

    def __init__(self, app: TaskQueue, size: int, events: queue.SimpleQueue) -> None:  # type: ignore[type-arg]
        super().__init__(size, events)
        self.app = app
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="taskqueue-task")

    def _started(self, job: Job) -> Any:
        def report(message: Message, at: float) -> bool:
            self.events.put(("started", job, at))
            return True  # queued: the loop stores it with its next batch

        return report

    def _submit(self, job: Job) -> Future:  # type: ignore[type-arg]
        return self._executor.submit(
            execute,
            self.app,
            job.message,
            job.delivery_info(),
            job.redelivered,
            self._started(job),
            functools.partial(self._abandon, job),
        )

    def _abandon(self, job: Job) -> None:
        """A body outlived its hard time limit: fail the job now, replace the thread.

        Runs in the time-limit watchdog. The thread keeps running until its
        blocking call returns (Python cannot kill it); its result is ignored.
        """
        job.abandoned = True
        error = TimeLimitExceeded(f"{job.message.task} did not stop at its time limit")
        self.events.put(
            ("done", job, Outcome(FAILURE, error=error_info(error), finished_at=time.time()))
        )
        # ThreadPoolExecutor has no public resize; one more worker thread
        # keeps the pool's concurrency while the abandoned one is stuck.
        self._executor._max_workers += 1  # type: ignore[attr-defined]

    def shutdown(self, wait: bool, cancel: bool) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=cancel)


class ProcessPool(Pool):
    """Child processes from a fork server: no inherited Kafka/Redis sockets."""

    kind = "processes"

    def __init__(self, app_spec: str, size: int, events: queue.SimpleQueue) -> None:  # type: ignore[type-arg]
        super().__init__(size, events)
        self._executor = ProcessPoolExecutor(
            size,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=init_child,
            initargs=(app_spec,),
        )

    def _submit(self, job: Job) -> Future:  # type: ignore[type-arg]
        try:
            return self._executor.submit(
                run_in_child, job.data, job.delivery_info(), job.redelivered
            )
        except BrokenProcessPool:
            logger.critical("process pool is broken; the worker must restart")
            raise

    def shutdown(self, wait: bool, cancel: bool) -> None:
        if not wait:
            for proc in list(getattr(self._executor, "_processes", {}).values()):
                proc.terminate()  # cold shutdown: children die, jobs are redelivered
        self._executor.shutdown(wait=wait, cancel_futures=cancel)
