"""Signals with Celery's names and arguments (``from taskqueue.signals import ...``).

::

    from taskqueue.signals import task_success

    @task_success.connect(sender=add)        # or @task_success.connect for every task
    def count(sender=None, result=None, **kwargs):
        ...

A receiver is called as ``receiver(signal=..., sender=..., **arguments)``
and should take ``**kwargs``: new arguments may be added, as in Celery.
A receiver that raises is logged and skipped; it never fails the job, the
publish or the worker (Celery's ``send`` behaves the same).

Which process each signal fires in is in docs/taskqueue.md, "Signals":
publish signals in the publishing process; ``task_received``,
``task_revoked`` and the worker signals in the worker's main process (its
poll loop: keep those receivers short); ``task_prerun``, ``task_postrun``,
``task_success``, ``task_failure`` and ``task_retry`` where the body runs
(a pool thread, or the child of a process pool); ``worker_process_init`` in
each process-pool child as it starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("taskqueue.signals")

Receiver = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class _Connection:
    receiver: Receiver
    sender: Any
    uid: Any


class Signal:
    """Receivers connected to one event; ``send`` calls those whose sender matches."""

    def __init__(self, name: str, providing_args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.providing_args = providing_args
        """The keyword arguments receivers get (documentation only)."""
        self._lock = threading.Lock()
        # Replaced, never mutated: send() reads it without the lock.
        self._connections: tuple[_Connection, ...] = ()

    def __repr__(self) -> str:
        return f"<Signal {self.name}>"

    @property
    def receivers(self) -> tuple[Receiver, ...]:
        return tuple(c.receiver for c in self._connections)

    def has_listeners(self) -> bool:
        """Whether any receiver is connected (Django's name). Cheap: the
        publish path asks it twice per message, to build nothing for a
        signal nobody listens to."""
        return bool(self._connections)

    def connect(
        self,
        receiver: Receiver | None = None,
        *,
        sender: Any = None,
        weak: bool = False,
        dispatch_uid: Any = None,
    ) -> Any:
        """Connect ``receiver``; or, without it, return a decorator that does.

        ``sender`` limits it to one sender (a task, a task name, a worker...).
        ``dispatch_uid`` connects a receiver once however often this runs.
        ``weak`` is accepted for Celery's signature and ignored: receivers
        are held strongly, so a receiver defined in a function never
        vanishes unnoticed (disconnect it instead).
        """
        del weak

        def add(func: Receiver) -> Receiver:
            uid = dispatch_uid if dispatch_uid is not None else (id(func), _sender_key(sender))
            with self._lock:
                if not any(c.uid == uid for c in self._connections):
                    self._connections = (*self._connections, _Connection(func, sender, uid))
            return func

        return add(receiver) if receiver is not None else add

    def disconnect(
        self, receiver: Receiver | None = None, *, sender: Any = None, dispatch_uid: Any = None
    ) -> bool:
        """Disconnect a receiver (by itself and sender, or by ``dispatch_uid``);
        False if it was not connected."""
        uid = dispatch_uid if dispatch_uid is not None else (id(receiver), _sender_key(sender))
        with self._lock:
            kept = tuple(c for c in self._connections if c.uid != uid)
            removed = len(kept) != len(self._connections)
            self._connections = kept
        return removed

    def send(self, sender: Any = None, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call the matching receivers; each pair holds a receiver and what it
        returned, or the exception it raised (logged, never propagated)."""
        responses: list[tuple[Receiver, Any]] = []
        for connection in self._connections:
            if connection.sender is not None and not _matches(connection.sender, sender):
                continue
            try:
                response = connection.receiver(signal=self, sender=sender, **named)
            except Exception as exc:
                logger.exception(
                    "receiver %r of signal %s raised (sender %r)",
                    connection.receiver,
                    self.name,
                    sender,
                )
                response = exc
            responses.append((connection.receiver, response))
        return responses


def _sender_key(sender: Any) -> Any:
    return sender if isinstance(sender, str) else id(sender)


def _matches(wanted: Any, sender: Any) -> bool:
    """A receiver's ``sender=`` matches the same object, or by task name:
    ``sender="tasks.add"`` (Celery's publish signals send the name) or a
    ``shared_task`` proxy whose app-specific task is the sender."""
    if wanted is sender:
        return True
    wanted_name = wanted if isinstance(wanted, str) else getattr(wanted, "shared_name", None)
    if wanted_name is None:
        return False
    return wanted_name == (sender if isinstance(sender, str) else getattr(sender, "name", None))


# --- publishing (the publishing process) -------------------------------------------
before_task_publish = Signal(
    "before_task_publish",
    ("body", "exchange", "routing_key", "headers", "properties", "declare", "retry_policy"),
)
"""Before a job's message is sent; sender: the task name. Receivers may add
custom entries to ``headers``: they travel in the message's headers."""
after_task_publish = Signal("after_task_publish", ("body", "exchange", "routing_key", "headers"))
"""After Kafka acknowledged the message; sender: the task name."""

# --- the worker's main process (its poll loop) --------------------------------------
task_received = Signal("task_received", ("request",))
"""A job arrived and will run; sender: the app."""
task_revoked = Signal("task_revoked", ("request", "terminated", "signum", "expired"))
"""A job ended REVOKED (revoked, terminated or expired); sender: the task."""

# --- where the body runs (a pool thread, or a process-pool child) ---------------------
task_prerun = Signal("task_prerun", ("task_id", "task", "args", "kwargs"))
task_postrun = Signal("task_postrun", ("task_id", "task", "args", "kwargs", "retval", "state"))
task_success = Signal("task_success", ("result",))
task_failure = Signal(
    "task_failure", ("task_id", "exception", "args", "kwargs", "traceback", "einfo")
)
task_retry = Signal("task_retry", ("request", "reason", "einfo"))

# --- worker lifecycle ----------------------------------------------------------------
worker_init = Signal("worker_init")
"""Before the worker starts consuming; sender: the Worker."""
worker_ready = Signal("worker_ready")
"""The worker consumes and is ready for jobs; sender: the Worker."""
worker_shutdown = Signal("worker_shutdown")
"""The worker has stopped (after its warm or cold shutdown); sender: the Worker."""
worker_process_init = Signal("worker_process_init")
"""In each process-pool child once its app is imported; sender: None."""

__all__ = [
    "Signal",
    "after_task_publish",
    "before_task_publish",
    "task_failure",
    "task_postrun",
    "task_prerun",
    "task_received",
    "task_retry",
    "task_revoked",
    "task_success",
    "worker_init",
    "worker_process_init",
    "worker_ready",
    "worker_shutdown",
]
