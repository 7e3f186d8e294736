"""What the execution pools tell the poll loop, and how a STARTED report went.

Pools run task bodies in other threads or processes; the loop alone writes
state and acks. The pools therefore report through one thread-safe queue of
:class:`PoolEvent` records that the loop drains each turn.
"""

from __future__ import annotations

import enum
import queue
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from .execute import Outcome
    from .jobs import Job


class EventKind(enum.Enum):
    """What happened to a job in the pool."""

    STARTED = "started"
    """The body is about to run (thread pool: the loop stores STARTED with its next batch)."""
    DONE = "done"
    """The body ended; ``outcome`` says how."""
    LOST = "lost"
    """The pool failed to run it (a child process died): ``outcome`` is a FAILURE."""
    CANCELLED = "cancelled"
    """Cancelled before it started (its partition was revoked, or a cold shutdown
    stopped it): never acked, the partition's next owner runs it."""


@dataclass(frozen=True, slots=True)
class PoolEvent:
    kind: EventKind
    job: Job
    outcome: Outcome | None = None
    """Set for DONE and LOST."""
    at: float = 0.0
    """Wall-clock time of a STARTED event."""


PoolEvents: TypeAlias = "queue.SimpleQueue[PoolEvent]"
"""The queue a pool puts events on and the loop drains."""


def new_event_queue() -> PoolEvents:
    return queue.SimpleQueue()


class StartResult(enum.Enum):
    """The answer to a body's "I am starting" report (``report_started``)."""

    QUEUED = "queued"
    """The loop stores STARTED with its next batch (thread pool); a state the
    task stores itself must write STARTED first (``Request.started_pending``)."""
    STORED = "stored"
    """STARTED is stored already (a process child writes it directly)."""
    REFUSED = "refused"
    """The stored state is final already (revoked meanwhile): the body must not run."""
