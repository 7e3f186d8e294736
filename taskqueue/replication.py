"""How many copies of each record the cluster keeps, and the start-up check.

``acks=all`` only means "on every in-sync replica". With one replica that
is one disk; with three replicas and ``min.insync.replicas=2`` a record the
producer saw acknowledged is on two brokers at least, so losing any one
broker loses no acknowledged job. The automatic default follows the
cluster: one replica on a single broker (local development), three on a
cluster of three or more (never more: a fourth copy buys little and costs
a write on every publish).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from .exceptions import PublishError
from .transport.base import TopicReplication, Transport

logger = logging.getLogger("taskqueue.replication")

AUTOMATIC_MAX_REPLICAS = 3

MIN_IN_SYNC_REPLICAS = 2
"""With 3 or more replicas, an acknowledged write is on at least two brokers."""


def replication_factor(configured: int, brokers: int) -> int:
    """The replication to create topics with: ``configured``, or when that
    is 0 (automatic) min(3, ``brokers``)."""
    if configured > 0:
        return configured
    return max(1, min(AUTOMATIC_MAX_REPLICAS, brokers))


def min_in_sync(replication: int) -> int | None:
    """The ``min.insync.replicas`` topics need at this replication, if any.

    Below three replicas none is set: with two replicas and a minimum of two,
    one broker down would stop every publish.
    """
    return MIN_IN_SYNC_REPLICAS if replication >= 3 else None


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A topic replicated less than the settings ask for."""

    topic: str
    queue: str
    replicas: int
    min_insync: int
    want_replicas: int
    want_min_insync: int | None

    def describe(self) -> str:
        parts = []
        if self.replicas < self.want_replicas:
            parts.append(f"replication factor {self.replicas} < {self.want_replicas}")
        if self.want_min_insync is not None and self.min_insync < self.want_min_insync:
            parts.append(f"min.insync.replicas {self.min_insync} < {self.want_min_insync}")
        return f"queue {self.queue} (topic {self.topic}): " + ", ".join(parts)


def shortfalls(
    described: Mapping[str, TopicReplication], queues: Mapping[str, str], want_replicas: int
) -> list[Shortfall]:
    """The described topics below ``want_replicas`` or its minimum in sync;
    ``queues`` names the queue each topic serves."""
    want_isr = min_in_sync(want_replicas)
    found = []
    for topic in sorted(described):
        d = described[topic]
        if d.replicas < want_replicas or (want_isr is not None and d.min_insync < want_isr):
            found.append(
                Shortfall(topic, queues[topic], d.replicas, d.min_insync, want_replicas, want_isr)
            )
    return found


def check_topics(
    transport: Transport, queues: Mapping[str, str], configured: int
) -> list[Shortfall]:
    """Warn (log) about each existing topic replicated less than expected.

    Topics created before a cluster grew, or by hand, keep their replication:
    Kafka never raises it by itself, so the worker says so at start-up
    instead of letting a broker's loss reveal it.
    """
    try:
        want = replication_factor(configured, transport.broker_count())
        found = shortfalls(transport.describe_topics(list(queues)), queues, want)
    except PublishError as exc:
        # Only a check: the worker's own connections report an outage better.
        logger.warning("could not check topic replication: %s", exc)
        return []
    for shortfall in found:
        logger.warning(
            "%s: a broker's loss can lose acknowledged jobs or stop publishing; "
            "raise it with kafka-reassign-partitions / kafka-configs",
            shortfall.describe(),
        )
    return found
