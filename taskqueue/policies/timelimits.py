"""Time limits: ``soft_time_limit`` and ``time_limit`` (task options, seconds).

``soft_time_limit``: :class:`SoftTimeLimitExceeded` is raised inside the
body; the task may catch it to clean up or return a partial result.

``time_limit`` (hard; default the ``task_time_limit`` setting, 2 hours, so
one hung job cannot hold its partition's commit point forever; 0 = none):
the body is stopped and the job ends FAILURE with
``TimeLimitExceeded`` (never retried by ``autoretry_for``; the job goes to
the dead-letter topic like any failure).

How the body is interrupted depends on the pool:

- **threads**: a watchdog thread raises the exception in the task's thread
  (``PyThreadState_SetAsyncExc``, the same mechanism as revoke-terminate).
  Python checks for it between bytecodes, so a body blocked inside one C
  call (a long ``time.sleep``, a socket read without timeout) sees it only
  when that call returns. If the body has not stopped ``ABANDON_GRACE``
  seconds after the hard limit, the job is recorded FAILURE anyway, the
  thread is *abandoned* (its late result is ignored) and the pool gets one
  replacement thread, so the worker keeps its full concurrency.
- **processes**: the child arms ``SIGALRM`` timers in its main thread; the
  signal interrupts sleeps and blocking I/O (PEP 475) and raises the
  exception in the body. The child survives and takes the next job. A body
  the alarm cannot reach (stuck in C code that never returns to the
  interpreter) is the parent's to stop: if the child has not answered
  ``ABANDON_GRACE`` seconds after the hard limit, the process pool kills it
  (SIGTERM, then SIGKILL) and starts a new one; the job ends FAILURE with
  ``TimeLimitExceeded`` all the same.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..control.terminate import raise_in
from ..exceptions import HardTimeLimit, SoftTimeLimitExceeded
from ..middleware import Execution, Middleware

if TYPE_CHECKING:
    from ..app import TaskQueue

logger = logging.getLogger("taskqueue.timelimits")

COMPACT_ABOVE = 1024
"""The watchdog's heap is compacted past this many entries when most are stale."""

ABANDON_GRACE = 2.0
"""Seconds after the hard limit before a thread that did not stop is abandoned."""


class TimeLimits(Middleware):
    """Owns ``soft_time_limit`` and ``time_limit``; enforced around the body."""

    options = frozenset({"soft_time_limit", "time_limit"})

    def around_execute(self, app: TaskQueue, execution: Execution, call: Callable[[], Any]) -> Any:
        with guard(
            execution.message.id,
            # task_soft_time_limit: the default of a task that sets no soft_time_limit
            {"soft_time_limit": app.settings.task_soft_time_limit, **execution.task.options},
            execution.in_child,
            execution.abandon,
            default_hard=app.settings.task_time_limit or None,
        ):
            return call()


class Watchdog:
    """One thread that fires time limits of bodies running in pool threads."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str, Callable[[], None] | None]] = []
        self._active: set[int] = set()
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(
        self,
        job_id: str,
        soft: float | None,
        hard: float | None,
        abandon: Callable[[], None] | None,
    ) -> int:
        token = next(self._seq)
        now = time.monotonic()
        with self._cond:
            head = self._heap[0][0] if self._heap else float("inf")
            self._active.add(token)
            if soft:
                heapq.heappush(self._heap, (now + soft, token, job_id, "soft", None))
            if hard:
                heapq.heappush(self._heap, (now + hard, token, job_id, "hard", None))
                if abandon is not None:
                    at = now + hard + ABANDON_GRACE
                    heapq.heappush(self._heap, (at, token, job_id, "abandon", abandon))
            self._ensure_thread()
            if self._heap[0][0] < head:
                # Wake the watchdog only when it must fire sooner than it
                # planned: with the default limit every job is watched, and
                # a wake-up per job would cost a thread switch per job.
                self._cond.notify()
        return token

    def done(self, token: int) -> None:
        with self._cond:
            self._active.discard(token)
            # Entries of finished bodies are dropped lazily when they come
            # due; with the default limit (hours) that would keep every job
            # of the last hours. Rebuild once most entries are stale, so
            # the heap stays proportional to the bodies running now.
            if len(self._heap) > COMPACT_ABOVE and len(self._heap) > 8 * len(self._active):
                self._heap = [e for e in self._heap if e[1] in self._active]
                heapq.heapify(self._heap)

    def __len__(self) -> int:
        """Entries waiting (for tests: the heap stays bounded)."""
        with self._cond:
            return len(self._heap)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="taskqueue-timelimits", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                _, token, job_id, kind, abandon = heapq.heappop(self._heap)
                if token not in self._active:
                    continue  # the body finished first
            self._fire(job_id, kind, abandon)

    @staticmethod
    def _fire(job_id: str, kind: str, abandon: Callable[[], None] | None) -> None:
        if kind == "soft":
            if raise_in(job_id, SoftTimeLimitExceeded):
                logger.warning("job %s: soft time limit exceeded", job_id)
        elif kind == "hard":
            if raise_in(job_id, HardTimeLimit):
                logger.error("job %s: hard time limit exceeded; stopping its body", job_id)
        elif abandon is not None:
            logger.error("job %s: body did not stop at its time limit; thread abandoned", job_id)
            abandon()


_watchdog = Watchdog()


def limits_of(
    options: dict[str, Any], default_hard: float | None = None
) -> tuple[float | None, float | None]:
    """(soft, hard) limits of a task; ``default_hard`` (the ``task_time_limit``
    setting) applies to a task that sets no ``time_limit``."""
    soft, hard = options.get("soft_time_limit"), options.get("time_limit")
    return (float(soft) if soft else None), (float(hard) if hard else default_hard)


@contextlib.contextmanager
def guard(
    job_id: str,
    options: dict[str, Any],
    in_child: bool,
    abandon: Callable[[], None] | None = None,
    default_hard: float | None = None,
) -> Iterator[None]:
    """Enforce the task's limits around its body (inside ``terminate.running``)."""
    soft, hard = limits_of(options, default_hard)
    if soft is None and hard is None:
        yield
        return
    if in_child:
        with _alarms(soft, hard):
            yield
        return
    token = _watchdog.watch(job_id, soft, hard, abandon)
    try:
        yield
    finally:
        _watchdog.done(token)


@contextlib.contextmanager
def _alarms(soft: float | None, hard: float | None) -> Iterator[None]:
    """Process-pool child: SIGALRM at the soft limit, then at the hard one."""
    start = time.monotonic()
    fired = {"soft": False}

    def on_alarm(_signum: int, _frame: object) -> None:
        elapsed = time.monotonic() - start
        if soft is not None and not fired["soft"] and elapsed < (hard or float("inf")) - 0.001:
            fired["soft"] = True
            if hard is not None:
                signal.setitimer(signal.ITIMER_REAL, max(0.001, hard - elapsed))
            raise SoftTimeLimitExceeded(f"soft time limit ({soft:g} s) exceeded")
        raise HardTimeLimit(f"time limit ({hard:g} s) exceeded")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, soft if soft is not None else hard or 0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
