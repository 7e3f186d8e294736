"""What other threads may know of the poll loop, and how they hear of rebalances.

The loop's own structures (its job table, counters, the Kafka consumer)
belong to the loop thread. Readers elsewhere (the gRPC control plane,
heartbeats) get a :class:`LoopSnapshot`: immutable, replaced as a whole
whenever it changes, so reading ``loop.snapshot`` needs no lock and never
sees a half-updated table. Code that follows the partition assignment, or
must act on a rebalance, registers a :class:`RebalanceListener` with
``PollLoop.add_rebalance_listener`` (asking the Kafka consumer from another
thread can block for seconds while the loop owns it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ActiveJob:
    """A job handed to the pool and not finished yet."""

    id: str
    task: str
    attempt: int
    topic: str
    partition: int
    offset: int
    received_at: float
    eta: float | None = None
    """Epoch seconds the job was due (None: at once)."""


@dataclass(frozen=True, slots=True)
class LoopSnapshot:
    active: tuple[ActiveJob, ...] = ()
    """Jobs in the pool (queued or running), in the order they were handed over."""
    processed: int = 0
    """Attempts finished since the worker started (any outcome)."""
    stopping: bool = False
    """Warm shutdown has begun: nothing new is fetched."""
    problem: str = ""
    """Why the worker is unhealthy (a store it needs is down); empty when healthy."""
    problem_since: float | None = None
    """Wall-clock start of that problem."""
    owned: tuple[str, ...] = ()
    """Ids of the jobs registered here and not acked (running, queued in the
    pool, or held for their turn): the worker renews their owner leases."""
    queues: tuple[str, ...] = ()
    """The queues the worker consumes now (``add_consumer``/``cancel_consumer`` change them)."""
    pool_size: int = 0
    """Threads or processes of the pool now (resized by commands and autoscale)."""
    taken_at: float = field(default_factory=time.time)

    def active_ids(self) -> set[str]:
        return {job.id for job in self.active}


class RebalanceListener(Protocol):
    """Told about partition changes, in the loop thread, during the consumer's poll.

    ``on_assigned`` runs after the loop took the partitions; ``on_revoked``
    after the loop finished (or released) their in-flight jobs and committed.
    Keep both short: the group waits for them. An exception is logged and
    does not stop the rebalance.
    """

    def on_assigned(self, tps: list[TopicPartition]) -> None: ...

    def on_revoked(self, tps: list[TopicPartition]) -> None: ...
