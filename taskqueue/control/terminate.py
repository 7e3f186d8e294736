"""Stopping a running task body in a pool thread (``Revoke(terminate=True)``).

Python cannot kill a thread, but it can schedule an exception in one
(``PyThreadState_SetAsyncExc``): the task's thread raises
:class:`~taskqueue.exceptions.TaskRevokedError` at its next bytecode, which
the executor turns into a REVOKED outcome. It cannot interrupt a blocking C
call (a socket read waits for its timeout first), and a process-pool child
is out of reach from here.

The exception must only ever land inside a task body, never in the pool's
own code (it would kill the pool thread): :func:`running` marks the body
while it runs, and :func:`terminate` schedules the exception while holding
the same lock the marker is removed under.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

from ..exceptions import TaskRevokedError

_lock = threading.Lock()
_running: dict[int, str] = {}  # thread id -> id of the job whose body it runs


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
        return job_id in _running.values()


def terminate(job_id: str) -> bool:
    """Raise TaskRevokedError in the thread running ``job_id``; False if none is."""
    return raise_in(job_id, TaskRevokedError)


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
