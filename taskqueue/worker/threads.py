"""A pool of task threads that can give up on one of them, and be resized.

``concurrent.futures.ThreadPoolExecutor`` cannot replace a thread that is
stuck in a task body: Python cannot kill a thread, and the executor has no
public way to grow. This pool can: :meth:`TaskThreads.abandon` settles a
running call's future with a stand-in result, retires the thread that runs
it (it exits whenever the body finally returns, and its late result is
dropped) and starts a replacement, so the pool keeps ``size`` working
threads.

:meth:`TaskThreads.resize` (Celery's ``pool_grow``/``pool_shrink``, and
autoscale) starts threads at once; a shrink never interrupts a body: each
thread checks, when it is between calls, whether the pool has more threads
than its size and exits if so (an idle thread is woken for that check).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

logger = logging.getLogger("taskqueue.worker")

T = TypeVar("T")

_STOP = None
"""Queue item that makes a thread exit (each exiting thread puts it back for the next)."""

_WAKE = object()
"""Queue item that wakes an idle thread to check whether the pool shrank."""


class PoolShutDown(RuntimeError):
    """Submitted to a pool that is shut down."""


class _Call(Generic[T]):
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.future: Future[T] = Future()


class TaskThreads:
    """``size`` threads taking calls from one queue, in submission order."""

    def __init__(self, size: int, name: str = "taskqueue-task") -> None:
        if size < 1:
            raise ValueError(f"a thread pool needs at least one thread, not {size}")
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: dict[Future[Any], threading.Thread] = {}
        self._threads: set[threading.Thread] = set()  # working, not retired
        self._abandoned: set[threading.Thread] = set()  # retired, body not returned yet
        self._count = 0
        self._closed = False
        for _ in range(size):
            self._spawn()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn``; its future may be cancelled until a thread takes it."""
        call = _Call(fn)
        with self._lock:
            if self._closed:
                raise PoolShutDown("the thread pool is shut down")
            self._queue.put(call)
        return call.future

    def abandon(self, future: Future[T], result: T) -> bool:
        """Settle a running call with ``result`` and replace its thread.

        False (and nothing changes) if the call is not running any more: it
        finished first, so its own result stands.
        """
        with self._lock:
            thread = self._running.pop(future, None)
            if thread is None:
                return False
            self._threads.discard(thread)
            self._abandoned.add(thread)
            if not self._closed and len(self._threads) < self.size:
                self._spawn()
        future.set_result(result)
        return True

    def resize(self, size: int) -> None:
        """Run ``size`` working threads: new ones start now; surplus ones exit
        as soon as they are between calls (a running body is never cut)."""
        if size < 1:
            raise ValueError(f"a thread pool needs at least one thread, not {size}")
        with self._lock:
            if self._closed:
                raise PoolShutDown("the thread pool is shut down")
            self.size = size
            surplus = len(self._threads) - size
            for _ in range(-surplus):
                self._spawn()
        for _ in range(surplus):
            self._queue.put(_WAKE)  # behind queued calls: those run first anyway

    @property
    def threads(self) -> int:
        """Working threads (abandoned ones not counted)."""
        with self._lock:
            return len(self._threads)

    @property
    def abandoned(self) -> int:
        """Abandoned threads whose body has not returned yet (each one that
        returns leaves the pool: nothing of it stays behind)."""
        with self._lock:
            return len(self._abandoned)

    def shutdown(self, wait: bool = True, cancel: bool = False) -> None:
        """Stop taking calls; ``cancel`` drops queued ones; ``wait`` joins the threads
        (not abandoned ones: they may never return)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel:
            while True:
                try:
                    call = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(call, _Call):  # not a _STOP or _WAKE marker
                    call.future.cancel()
        self._queue.put(_STOP)
        if wait:
            for thread in threads:
                thread.join()

    # --- the threads ------------------------------------------------------------
    def _spawn(self) -> None:
        """Start one thread (the caller holds the lock)."""
        self._count += 1
        # Daemon: an abandoned thread stuck in a C call must not keep the
        # process alive at exit; warm shutdown joins the working ones.
        thread = threading.Thread(target=self._work, name=f"{self.name}-{self._count}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _surplus(self, me: threading.Thread) -> bool:
        """Leave the pool if it has more working threads than its size."""
        with self._lock:
            if len(self._threads) <= self.size or me not in self._threads:
                return False
            self._threads.discard(me)
        logger.info("task thread %s leaves the pool (shrunk to %d)", me.name, self.size)
        return True

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            if self._surplus(me):
                return
            call = self._queue.get()
            if call is _STOP:
                self._queue.put(_STOP)
                return
            if call is _WAKE:
                continue  # the check above decides
            future = call.future
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            with self._lock:
                self._running[future] = me
            value: Any = None
            error: BaseException | None = None
            try:
                value = call.fn()
            except BaseException as exc:  # noqa: BLE001 - reported through the future
                error = exc
            with self._lock:
                mine = self._running.pop(future, None) is not None
                if not mine:
                    self._abandoned.discard(me)
            if not mine:
                # Abandoned: the future holds its stand-in result and a
                # replacement thread took this one's place.
                logger.warning("abandoned task thread %s ended; it exits", me.name)
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
            del call, future, value, error  # no reference to a result while idle
