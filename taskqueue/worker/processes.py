"""A pool of child processes, each running one call at a time.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one child
dies (every running future fails and the pool refuses new work), and offers
no public way to terminate its children. This pool keeps one pipe per child
and a manager thread in the parent, so it knows which call each child runs:

- a child that dies mid-call (SIGKILL, the OOM killer, a crash in C code)
  fails only that call, with :class:`WorkerLostError` naming the child and its
  exit; a new child takes its place;
- :meth:`ChildPool.shutdown` with ``wait=False`` terminates the children;
  their calls end with :class:`WorkerLostError` (``shutdown=True``);
- a child that cannot even start (its initializer fails) marks the pool
  broken: calls fail with :class:`PoolBroken` instead of children being
  started again forever.

Children come from a ``forkserver``: they are forked from a clean server
process, not from the worker, so they inherit none of its Kafka or Redis
sockets or threads.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

logger = logging.getLogger("taskqueue.worker")

TERMINATE_GRACE = 2.0
"""Seconds a terminated child gets to exit before it is killed."""

_READY = "ready"


class WorkerLostError(Exception):
    """The child process running a call ended before answering."""

    def __init__(self, message: str, shutdown: bool = False) -> None:
        super().__init__(message)
        self.shutdown = shutdown


class PoolBroken(RuntimeError):
    """The pool cannot run calls (children fail to start, or it is shut down)."""


def _child_main(
    conn: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> None:
    """A child's life: initialise, say ready, then answer calls until told to stop."""
    initializer(*initargs)
    conn.send(_READY)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return  # the parent is gone
        if request is None:
            return
        fn, args = request
        try:
            reply = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - sent back to the caller
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # the value or exception does not pickle
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


@dataclass(eq=False)
class _Child:
    process: Any  # multiprocessing.Process of the pool's context
    conn: Connection
    ready: bool = False
    future: Future[Any] | None = None


@dataclass(eq=False)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: Future[Any] = field(default_factory=Future)


class ChildPool:
    """``size`` forkserver children running picklable module-level functions."""

    def __init__(
        self,
        size: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
        name: str = "taskqueue-child",
    ) -> None:
        if size < 1:
            raise ValueError(f"a process pool needs at least one child, not {size}")
        self.size = size
        self.name = name
        self._context = multiprocessing.get_context("forkserver")
        self._initializer = initializer
        self._initargs = initargs
        self._lock = threading.Lock()
        self._pending: collections.deque[_Call] = collections.deque()
        self._children: list[_Child] = []
        self._closing = False  # no new calls
        self._cold = False  # terminate children now
        self._broken: str | None = None
        self._wake_r, self._wake_w = self._context.Pipe(duplex=False)
        for _ in range(size):
            self._children.append(self._start_child())
        self._manager = threading.Thread(target=self._manage, name=f"{name}-manager", daemon=True)
        self._manager.start()

    # --- the caller's side ------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in a child; the future may be cancelled until it starts."""
        call = _Call(fn, args)
        with self._lock:
            if self._broken is not None:
                raise PoolBroken(self._broken)
            if self._closing:
                raise PoolBroken("the process pool is shut down")
            self._pending.append(call)
        self._wake()
        return call.future

    def pids(self) -> list[int]:
        """Pids of the live children (for tests and diagnostics)."""
        with self._lock:
            return [c.process.pid for c in self._children if c.process.pid is not None]

    def running(self) -> dict[int, Future[Any]]:
        """Child pid -> the future of the call it runs."""
        with self._lock:
            return {c.process.pid: c.future for c in self._children if c.future is not None}

    def shutdown(self, wait: bool = True, cancel: bool = False) -> None:
        """Stop taking calls. ``cancel`` drops queued ones. ``wait``: running calls
        finish first; otherwise the children are terminated at once."""
        with self._lock:
            self._closing = True
            self._cold = not wait
            if cancel or not wait:
                dropped = list(self._pending)
                self._pending.clear()
            else:
                dropped = []
        for call in dropped:
            call.future.cancel()
        self._wake()
        self._manager.join()

    # --- the manager thread -------------------------------------------------------
    def _start_child(self) -> _Child:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_child_main,
            args=(child_end, self._initializer, self._initargs),
            name=self.name,
            daemon=True,
        )
        process.start()
        child_end.close()  # the child holds it; a dead child then reads as EOF here
        return _Child(process, parent_end)

    def _wake(self) -> None:
        # OSError: the manager has exited and closed the pipe.
        with contextlib.suppress(OSError):
            self._wake_w.send_bytes(b"")

    def _manage(self) -> None:
        try:
            while self._turn():
                pass
        except Exception:
            logger.exception("process pool manager failed")
            self._break("the process pool's manager failed")
        finally:
            self._stop_children()
            self._wake_r.close()
            self._wake_w.close()

    def _turn(self) -> bool:
        """Hand out calls, wait for a reply, a death or a wake-up; False when done."""
        with self._lock:
            cold, closing = self._cold, self._closing
            if cold:
                return False
            if closing and not self._pending and all(c.future is None for c in self._children):
                return False
            for child in self._children:
                if child.ready and child.future is None and self._pending:
                    self._assign(child, self._pending.popleft())
            waitables: list[Any] = [self._wake_r]
            for child in self._children:
                waitables.extend((child.conn, child.process.sentinel))
        for ready in wait(waitables):
            if ready is self._wake_r:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
        with self._lock:
            for child in list(self._children):
                self._check(child)
        return True

    def _assign(self, child: _Child, call: _Call) -> None:
        """Send ``call`` to an idle child (lock held)."""
        if not call.future.set_running_or_notify_cancel():
            return  # cancelled while queued (its partition was revoked)
        child.future = call.future
        try:
            child.conn.send((call.fn, call.args))
        except (OSError, ValueError) as exc:
            # The child died; _check reports the call lost and replaces it.
            logger.debug("sending a call to child %s failed: %s", child.process.pid, exc)

    def _check(self, child: _Child) -> None:
        """Take a child's reply, or notice its death (lock held)."""
        try:
            while child.conn.poll():
                message = child.conn.recv()
                if message == _READY:
                    child.ready = True
                    continue
                future, child.future = child.future, None
                ok, value = message
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except (EOFError, OSError):
            pass  # it died; its sentinel says so
        if child.process.is_alive():
            return
        child.process.join()
        child.conn.close()
        self._children.remove(child)
        exit_info = _describe_exit(child.process.exitcode)
        if child.future is not None:
            future, child.future = child.future, None
            logger.error("pool child pid %s %s while running a job", child.process.pid, exit_info)
            future.set_exception(
                WorkerLostError(
                    f"the worker's pool process (pid {child.process.pid}) {exit_info} "
                    "while running this job",
                    shutdown=self._cold,
                )
            )
        if not child.ready and not self._closing:
            self._break(f"a pool process failed to start ({exit_info}); see the worker's log")
            return
        if not self._closing:
            self._children.append(self._start_child())

    def _break(self, reason: str) -> None:
        """Fail everything queued: the pool cannot run calls (lock may be held)."""
        logger.critical("process pool is broken: %s", reason)
        self._broken = reason
        self._closing = True
        dropped = list(self._pending)
        self._pending.clear()
        for call in dropped:
            if call.future.set_running_or_notify_cancel():
                call.future.set_exception(PoolBroken(reason))

    def _stop_children(self) -> None:
        with self._lock:
            children = list(self._children)
            cold = self._cold
        for child in children:
            if cold:
                child.process.terminate()  # SIGTERM: init_child keeps its default action
            else:
                with contextlib.suppress(OSError):  # already dead
                    child.conn.send(None)
        for child in children:
            child.process.join(TERMINATE_GRACE)
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
            if child.future is not None:
                future, child.future = child.future, None
                future.set_exception(
                    WorkerLostError(
                        f"the worker's pool process (pid {child.process.pid}) was "
                        "terminated by a cold shutdown",
                        shutdown=True,
                    )
                )
            child.conn.close()
        with self._lock:
            self._children.clear()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "vanished"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
