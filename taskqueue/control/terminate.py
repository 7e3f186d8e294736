"""Stopping a running task body in a pool thread (``Revoke(terminate=True)``).

Python cannot kill a thread, but it can schedule an exception in one
(``PyThreadState_SetAsyncExc``): the task's thread raises
:class:`~taskqueue.exceptions.TaskRevokedError` at its next bytecode, which
the executor turns into a REVOKED outcome. It cannot interrupt a blocking C
call (a socket read waits for its timeout first).

A process-pool child is out of reach of that: the process pool registers
each job it runs here with a way to stop it (:func:`register_stopper`; the
pool kills the child running the job and replaces it), and
:func:`terminate` uses it when no thread of this process runs the job.

The exception must only ever land inside a task body, never in the pool's
own code (it would kill the pool thread): :func:`running` marks the body
while it runs, and :func:`terminate` schedules the exception while holding
the same lock the marker is removed under.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator

from ..exceptions import TaskRevokedError

_lock = threading.Lock()
_running: dict[int, str] = {}  # thread id -> id of the job whose body it runs
_stoppers: dict[str, Callable[[], bool]] = {}  # job id -> stops its pool child


def register_stopper(job_id: str, stop: Callable[[], bool]) -> None:
    """``stop()`` ends ``job_id``'s body elsewhere (a pool child); True if it was running."""
    with _lock:
        _stoppers[job_id] = stop


def unregister_stopper(job_id: str, stop: Callable[[], bool]) -> None:
    with _lock:
        if _stoppers.get(job_id) is stop:
            del _stoppers[job_id]


@contextlib.contextmanager
def running(job_id: str) -> Iterator[None]:
    """Mark this thread as running ``job_id``'s task body."""
    tid = threading.get_ident()
    with _lock:
        _running[tid] = job_id
    try:
        yield
    finally:
        with _lock:
            _running.pop(tid, None)


def is_running(job_id: str) -> bool:
    with _lock:
        return job_id in _running.values() or job_id in _stoppers


def terminate(job_id: str) -> bool:
    """Stop ``job_id``'s body: TaskRevokedError in the thread running it, or its
    pool child killed; False if nothing here runs it."""
    if raise_in(job_id, TaskRevokedError):
        return True
    with _lock:
        stop = _stoppers.get(job_id)
    # Called outside the lock: the pool's own lock is taken inside.
    return stop is not None and stop()


def raise_in(job_id: str, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` in the thread running ``job_id``'s body; False if none is.

    Shared with the time limits (``taskqueue.policies.timelimits``), which
    interrupt a body the same way.
    """
    with _lock:
        tid = next((t for t, j in _running.items() if j == job_id), None)
        if tid is None:
            return False
        done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(tid), ctypes.py_object(exc_type)
        )
        return done == 1
