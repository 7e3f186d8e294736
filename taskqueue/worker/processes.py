"""A pool of child processes, each running one call at a time.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one child
dies (every running future fails and the pool refuses new work), and offers
no public way to terminate its children. This pool keeps one pipe per child
and a manager thread in the parent, so it knows which call each child runs:

- a child that dies mid-call (SIGKILL, the OOM killer, a crash in C code)
  fails only that call, with :class:`WorkerLostError` naming the child and its
  exit; a new child takes its place (whether the call runs again is the
  caller's decision: the pool cannot tell a crash from a poison call);
- :meth:`ChildPool.kill` stops the child running one call (SIGTERM, then
  SIGKILL after ``TERMINATE_GRACE``) and fails that call with the caller's
  exception; a call submitted with a ``timeout`` is killed that way when it
  overruns (:class:`CallTimedOut`), so even a body stuck in C code that never
  returns to the interpreter gives its child back;
- :meth:`ChildPool.shutdown` with ``wait=False`` terminates the children;
  their calls end with :class:`WorkerLostError` (``shutdown=True``);
- a child that cannot even start (its initializer fails) marks the pool
  broken: calls fail with :class:`PoolBroken` instead of children being
  started again forever;
- ``max_tasks_per_child`` / ``max_memory_per_child`` (Celery's options) retire
  a child after that many calls, or after a call that left its peak resident
  memory above that many KiB: the call completes, then the child exits and a
  new one takes its place (a leak in task code is bounded, not fatal);
- :meth:`ChildPool.resize` (Celery's ``pool_grow``/``pool_shrink``) starts
  children at once, and retires surplus ones as they become idle: a
  running call is never cut short.

Children come from a ``forkserver``: they are forked from a clean server
process, not from the worker, so they inherit none of its Kafka or Redis
sockets or threads.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import resource
import signal
import threading
import time
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


class CallTimedOut(Exception):
    """A call ran past the ``timeout`` it was submitted with; its child was killed."""


class PoolBroken(RuntimeError):
    """The pool cannot run calls (children fail to start, or it is shut down)."""


def _peak_rss_kib() -> int:
    """This process's peak resident memory in KiB (``ru_maxrss``, as Celery reads it)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


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
            ok, value = True, fn(*args)
        except BaseException as exc:  # noqa: BLE001 - sent back to the caller
            ok, value = False, exc
        rss = _peak_rss_kib()  # the parent decides whether to retire this child
        try:
            conn.send((ok, value, rss))
        except Exception as exc:  # the value or exception does not pickle
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}"), rss))


@dataclass(eq=False)
class _Child:
    process: Any  # multiprocessing.Process of the pool's context
    conn: Connection
    ready: bool = False
    future: Future[Any] | None = None
    deadline: float | None = None  # monotonic; the call's timeout
    doom: BaseException | None = None  # being killed: the call fails with this
    kill_at: float = 0.0  # monotonic; SIGKILL if the SIGTERM did not end it
    calls: int = 0  # calls answered
    retiring: bool = False  # told to exit after its call; takes no new one


@dataclass(eq=False)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    timeout: float | None = None
    future: Future[Any] = field(default_factory=Future)


class ChildPool:
    """``size`` forkserver children running picklable module-level functions."""

    def __init__(
        self,
        size: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
        name: str = "taskqueue-child",
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a process pool needs at least one child, not {size}")
        for option, value in (
            ("max_tasks_per_child", max_tasks_per_child),
            ("max_memory_per_child", max_memory_per_child),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{option} must be at least 1, not {value}")
        self.size = size
        self.max_tasks_per_child = max_tasks_per_child
        self.max_memory_per_child = max_memory_per_child
        self.retired = 0
        """Children retired by ``max_tasks_per_child``/``max_memory_per_child``."""
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
    def submit(
        self, fn: Callable[..., Any], *args: Any, timeout: float | None = None
    ) -> Future[Any]:
        """Run ``fn(*args)`` in a child; the future may be cancelled until it starts.

        ``timeout``: seconds from the start of the call after which its child
        is killed and the call fails with :class:`CallTimedOut`."""
        call = _Call(fn, args, timeout)
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

    def resize(self, size: int) -> None:
        """Keep ``size`` children: new ones start now, surplus ones retire when
        idle (the manager retires them between calls)."""
        if size < 1:
            raise ValueError(f"a process pool needs at least one child, not {size}")
        with self._lock:
            if self._closing:
                raise PoolBroken(self._broken or "the process pool is shut down")
            self.size = size
            self._replace_missing()
        self._wake()

    def kill(self, future: Future[Any], error: BaseException) -> bool:
        """Kill the child running the call of ``future``; the call fails with
        ``error`` and a new child takes the place. False if no child runs it
        (still queued, or finished)."""
        with self._lock:
            child = next((c for c in self._children if c.future is future), None)
            if child is None:
                return False
            self._doom(child, error)
        self._wake()
        return True

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
        """Hand out calls, wait for a reply, a death, a deadline or a wake-up;
        False when done."""
        with self._lock:
            cold, closing = self._cold, self._closing
            if cold:
                return False
            if closing and not self._pending and all(c.future is None for c in self._children):
                return False
            self._retire_surplus()
            for child in self._children:
                idle = child.ready and child.future is None
                if idle and child.doom is None and not child.retiring and self._pending:
                    self._assign(child, self._pending.popleft())
            waitables: list[Any] = [self._wake_r]
            for child in self._children:
                waitables.extend((child.conn, child.process.sentinel))
            timeout = self._next_deadline()
        for ready in wait(waitables, timeout):
            if ready is self._wake_r:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
        settled: list[tuple[Future[Any], bool, Any]] = []
        with self._lock:
            for child in list(self._children):
                self._check(child, settled)
            self._enforce_deadlines()
        # Outside the lock: a future's callbacks may submit again.
        for future, ok, value in settled:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        return True

    def _next_deadline(self) -> float | None:
        """Seconds until the next call timeout or SIGKILL is due (lock held)."""
        due = [c.kill_at if c.doom is not None else c.deadline for c in self._children]
        times = [t for t in due if t is not None]
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _enforce_deadlines(self) -> None:
        """Kill children whose call overran, SIGKILL those that ignored SIGTERM (lock held)."""
        now = time.monotonic()
        for child in self._children:
            if child.doom is not None:
                if child.kill_at <= now:
                    with contextlib.suppress(OSError):
                        child.process.kill()
                    child.kill_at = now + TERMINATE_GRACE  # and again, should it not die
            elif child.future is not None and child.deadline is not None and child.deadline <= now:
                logger.error(
                    "pool child pid %s overran its call's timeout; killing it", child.process.pid
                )
                self._doom(child, CallTimedOut("the call did not return within its time limit"))

    def _doom(self, child: _Child, error: BaseException) -> None:
        """Start killing ``child``: SIGTERM now, SIGKILL after the grace (lock held)."""
        if child.doom is not None:
            return
        child.doom = error
        child.kill_at = time.monotonic() + TERMINATE_GRACE
        with contextlib.suppress(OSError):
            child.process.terminate()

    def _assign(self, child: _Child, call: _Call) -> None:
        """Send ``call`` to an idle child (lock held)."""
        if not call.future.set_running_or_notify_cancel():
            return  # cancelled while queued (its partition was revoked)
        child.future = call.future
        child.deadline = None if call.timeout is None else time.monotonic() + call.timeout
        try:
            child.conn.send((call.fn, call.args))
        except (OSError, ValueError) as exc:
            # The child died; _check reports the call lost and replaces it.
            logger.debug("sending a call to child %s failed: %s", child.process.pid, exc)

    def _check(self, child: _Child, settled: list[tuple[Future[Any], bool, Any]]) -> None:
        """Take a child's reply, or notice its death (lock held); the futures to
        settle go to ``settled``."""
        try:
            while child.conn.poll():
                message = child.conn.recv()
                if message == _READY:
                    child.ready = True
                    continue
                future, child.future, child.deadline = child.future, None, None
                ok, value, rss = message
                if future is not None:
                    settled.append((future, ok, value))
                child.calls += 1
                self._maybe_retire(child, rss)
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
            if child.doom is not None:  # killed on purpose: the caller's error
                settled.append((future, False, child.doom))
            else:
                logger.error(
                    "pool child pid %s %s while running a job", child.process.pid, exit_info
                )
                lost = WorkerLostError(
                    f"the worker's pool process (pid {child.process.pid}) {exit_info} "
                    "while running this job",
                    shutdown=self._cold,
                )
                settled.append((future, False, lost))
        if not child.ready and not self._closing:
            self._break(f"a pool process failed to start ({exit_info}); see the worker's log")
            return
        if not self._closing:
            self._replace_missing()

    def _serving(self) -> list[_Child]:
        """Children that take calls: not retiring, not being killed (lock held)."""
        return [c for c in self._children if not c.retiring and c.doom is None]

    def _replace_missing(self) -> None:
        """Start children until ``size`` of them serve (lock held)."""
        for _ in range(self.size - len(self._serving())):
            self._children.append(self._start_child())

    def _retire_surplus(self) -> None:
        """Retire idle children beyond ``size`` (lock held); a busy surplus
        child is retired by a later turn, once its call has answered."""
        surplus = len(self._serving()) - self.size
        for child in self._serving():
            if surplus <= 0:
                return
            if child.ready and child.future is None:
                logger.info("retiring pool child pid %s: the pool shrank", child.process.pid)
                child.retiring = True
                surplus -= 1
                with contextlib.suppress(OSError):  # already dead: its sentinel says so
                    child.conn.send(None)

    def _maybe_retire(self, child: _Child, rss_kib: int) -> None:
        """Ask a child that reached its call or memory limit to exit (lock held);
        its exit is then seen like any other and a new child replaces it."""
        if child.retiring or self._closing:
            return
        if self.max_tasks_per_child is not None and child.calls >= self.max_tasks_per_child:
            why = f"it ran {child.calls} call(s) (max_tasks_per_child)"
        elif self.max_memory_per_child is not None and rss_kib > self.max_memory_per_child:
            why = f"its resident memory reached {rss_kib} KiB (max_memory_per_child)"
        else:
            return
        logger.info("retiring pool child pid %s: %s", child.process.pid, why)
        child.retiring = True
        self.retired += 1
        with contextlib.suppress(OSError):  # already dead: its sentinel says so
            child.conn.send(None)

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
