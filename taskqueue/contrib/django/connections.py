"""Stale database connections closed around each task, as Celery's Django fixup does.

A worker is a long-lived process outside Django's request cycle, which is
what normally closes connections (``CONN_MAX_AGE``, a server that dropped
an idle one). Without this, a task would get "server closed the connection
unexpectedly" from a connection the database forgot hours ago, and a
connection past its ``CONN_MAX_AGE`` would never be released. So before
and after each task body, every connection of the pool thread that is
unusable or past its age is closed; Django opens a fresh one on next use.

:func:`~taskqueue.contrib.django.django_app` installs the middleware. It
runs in the pool (a thread, or a process-pool child: those come from a
fork server and inherit no connection), around the task body only; eager
calls (``apply()``, ``always_eager``) run in the caller's thread and
transaction, which it must not touch, as Celery's fixup skips them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connections

from taskqueue.middleware import Execution, Middleware

if TYPE_CHECKING:
    from taskqueue import TaskQueue


class CloseOldConnections(Middleware):
    """``close_if_unusable_or_obsolete()`` on this thread's connections, before and after."""

    def around_execute(self, app: TaskQueue, execution: Execution, call: Callable[[], Any]) -> Any:
        close_old_connections()
        try:
            return call()
        finally:
            close_old_connections()


def close_old_connections() -> None:
    """Django's ``close_old_connections``, sparing a connection inside a
    transaction (closing it would break the transaction)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
