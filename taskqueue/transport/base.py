"""The transport interface: publish, consume, declare.

A :class:`Transport` publishes records and declares topics; consuming is its
own object, a :class:`Consumer`, which polls batches and acknowledges each
record individually (``ack`` marks one offset finished; ``commit`` stores
the highest contiguous finished position per partition). Kafka and memory
are the two implementations.

Two rules keep commits exact. A position counts as committed only when the
broker confirms it; a refused one is sent again by the next commit. And a
record is handed out only if its partition is still this consumer's: one
fetched in a poll during which its partition was revoked is dropped (its
new owner reads it), so it can never be committed from here.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .handles import PublishHandle, wait_resolved_async
from .offsets import OffsetTracker

TopicPartition = tuple[str, int]
Headers = list[tuple[str, bytes]]

# Which producer a record takes (``Transport.send(lane=...)``); a transport
# with one producer ignores it.
PROMPT = "prompt"
"""Sent at once: a lone publish, and records whose order must hold."""
BUSY = "busy"
"""Many records at once (``app.bulk()``): may wait a little to share a batch."""
AUTO = "auto"
"""A publish whose order against others does not matter: ``busy`` while many
records await their acknowledgment, else ``prompt``."""
RebalanceCallback = Callable[[list[TopicPartition]], None]
CommitResult = tuple[TopicPartition, int, str | None]
"""The broker's answer about one partition's commit: (tp, offset, error or None)."""

CLOSE_COMMIT_ATTEMPTS = 3
"""Synchronous commits tried at close before the rest is left to redelivery."""

logger = logging.getLogger("taskqueue.transport")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One record as consumed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def tp(self) -> TopicPartition:
        return (self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclass(frozen=True, slots=True)
class TopicReplication:
    """How an existing topic is replicated, as the brokers report it."""

    topic: str
    replicas: int
    """The fewest replicas any of its partitions has."""
    min_insync: int
    """``min.insync.replicas``: the topic's own setting, else the broker default."""


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """A partition's watermarks and its consumer group's committed position."""

    committed: int
    """-1: the group committed nothing yet."""
    low: int
    high: int

    @property
    def lag(self) -> int:
        """Records waiting: from the committed position (or, with none, the
        low watermark, where ``auto.offset.reset=earliest`` starts) to the end."""
        return max(0, self.high - (self.committed if self.committed >= 0 else self.low))


class Transport(ABC):
    """Broker connection for one app. Created lazily, shared by threads."""

    @abstractmethod
    def declare(
        self,
        topics: Sequence[str],
        partitions: int,
        replication: int,
        configs: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[str]:
        """Create missing topics; returns the names that were created.

        ``configs`` maps a topic to its topic-level settings (Kafka's names,
        e.g. ``retention.ms``), applied when the topic is created; topics
        that exist already are left as they are.
        """

    @abstractmethod
    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        lane: str = PROMPT,
    ) -> PublishHandle:
        """Hand a record to the transport without waiting for the broker.

        Records of one key keep their order within a lane (``PROMPT``,
        ``BUSY``, ``AUTO``), not across lanes."""

    @abstractmethod
    def wait(self, handles: Iterable[PublishHandle], timeout: float) -> None:
        """Block until every handle is acknowledged; raise :class:`PublishError` if not."""

    async def wait_async(self, handles: Sequence[PublishHandle], timeout: float) -> None:
        """Wait until every handle is resolved or ``timeout`` passes, without
        blocking the event loop; raises nothing (the handles say what happened)."""
        await wait_resolved_async(handles, timeout)

    @abstractmethod
    def consumer(
        self,
        topics: Sequence[str],
        group_id: str,
        max_window: int,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        """A consumer in ``group_id`` subscribed to ``topics``."""

    def grouped_consumer(
        self,
        groups: Mapping[str, str],
        max_window: int,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        """A consumer of every topic in ``groups`` (topic -> group id), each
        topic consumed in its own group: one member consumer per group, seen
        as one (:mod:`.grouped`)."""
        by_group: dict[str, list[str]] = {}
        for topic, group in groups.items():
            by_group.setdefault(group, []).append(topic)
        if len(by_group) == 1:
            [(group, topics)] = by_group.items()
            return self.consumer(topics, group, max_window, on_assign, on_revoke)
        from .grouped import GroupedConsumer

        members: dict[str, Consumer] = {}
        for group, topics in by_group.items():
            member = self.consumer(topics, group, max_window, on_assign, on_revoke)
            members.update(dict.fromkeys(topics, member))
        return GroupedConsumer(members, max_window)

    @abstractmethod
    def consumer_offsets(
        self, groups: Mapping[str, str], partitions: Sequence[TopicPartition], timeout: float = 1.0
    ) -> dict[TopicPartition, PartitionOffsets]:
        """Each partition's watermarks and the position committed by the group
        that consumes its topic (``groups`` maps topic to group).

        Partitions whose offsets could not be read in ``timeout`` seconds, or
        whose topic is not in ``groups``, are left out. Safe from any thread:
        it never touches a consumer of the poll loop and never joins a group
        (so it never causes a rebalance).
        """

    def consumer_lag(
        self, groups: Mapping[str, str], partitions: Sequence[TopicPartition], timeout: float = 1.0
    ) -> dict[TopicPartition, int]:
        """Records waiting in each partition (see :meth:`consumer_offsets`)."""
        offsets = self.consumer_offsets(groups, partitions, timeout)
        return {tp: o.lag for tp, o in offsets.items()}

    @abstractmethod
    def list_topics(self, prefix: str) -> list[str]:
        """Names of the existing topics that start with ``prefix``, sorted."""

    @abstractmethod
    def broker_count(self) -> int:
        """How many brokers the cluster has now."""

    @abstractmethod
    def describe_topics(self, topics: Sequence[str]) -> dict[str, TopicReplication]:
        """Replication of those ``topics`` that exist (missing ones are left out)."""

    def service(self) -> None:  # noqa: B027 - optional: only some transports need it
        """Serve pending delivery reports without blocking (called by loops)."""

    def close(self) -> None:  # noqa: B027 - optional: nothing to release by default
        """Release connections; pending publishes are flushed first."""


class Consumer(ABC):
    """Polls batches; tracks per-record acks and commits contiguous positions."""

    close_commit_backoff = 0.2
    """Seconds before the second commit attempt at close (doubled after)."""

    def __init__(self, max_window: int) -> None:
        self.offsets = OffsetTracker(max_window)
        self._paused: set[TopicPartition] = set()
        # Commits sent and not yet answered: (tp, offset) -> the partition's
        # generation when sent, so a late answer cannot mark a later assignment.
        self._unanswered: dict[tuple[TopicPartition, int], int] = {}

    @abstractmethod
    def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]: ...

    @abstractmethod
    def _commit(self, positions: dict[TopicPartition, int], asynchronous: bool) -> None:
        """Send the commit and pass the broker's answer to ``_answered``: before
        returning if synchronous, from a later fetch if asynchronous."""

    @abstractmethod
    def _set_paused(self, tps: list[TopicPartition], paused: bool) -> None: ...

    @abstractmethod
    def assignment(self) -> list[TopicPartition]: ...

    @abstractmethod
    def close(self) -> None: ...

    def poll(self, max_messages: int, timeout: float) -> list[Delivery]:
        epoch = self.offsets.epoch
        batch = self._fetch(max_messages, timeout)
        if batch:
            batch = self._still_owned(batch, epoch)
        for d in batch:
            self.offsets.received(d.topic, d.partition, d.offset)
        return batch

    def _still_owned(self, batch: list[Delivery], epoch: int) -> list[Delivery]:
        """The records whose partition is still assigned and was not revoked
        while the fetch ran (a fetch may serve a rebalance between taking two
        chunks of records). Tracking the others would commit offsets of a
        partition another consumer owns now; that consumer reads them."""
        assigned = set(self.assignment())
        generation = self.offsets.generation
        kept: list[Delivery] = []
        dropped: dict[TopicPartition, int] = {}
        for d in batch:
            tp = d.tp
            if tp in assigned and generation(tp) <= epoch:
                kept.append(d)
            else:
                dropped[tp] = dropped.get(tp, 0) + 1
        if dropped:
            logger.info(
                "dropped records of partitions revoked during the fetch "
                "(their new owner reads them): %s",
                dropped,
            )
        return kept

    def ack(self, delivery: Delivery, generation: int | None = None) -> None:
        """The record is finished (done, dead-lettered or skipped).

        ``generation`` (from ``offsets.generation(tp)`` when the record was
        received) makes acks of a partition revoked since then no-ops.
        """
        self.offsets.finished(delivery.topic, delivery.partition, delivery.offset, generation)

    def commit(self, asynchronous: bool = True) -> dict[TopicPartition, int]:
        """Send the committable positions; returns what was sent.

        They count as committed once the broker confirms them (at once if
        synchronous, during a later poll if not); until then, and after a
        refusal, the next commit sends them again.
        """
        positions = self.offsets.committable()
        if positions:
            generation = self.offsets.generation
            for tp, offset in positions.items():
                self._unanswered[(tp, offset)] = generation(tp)
            self._commit(positions, asynchronous)
        return positions

    @property
    def unanswered_commits(self) -> int:
        """Partition positions sent in commits the broker has not answered yet."""
        return len(self._unanswered)

    def _answered(self, results: Iterable[CommitResult]) -> None:
        """Mark the confirmed positions committed; log the refused ones."""
        refused: dict[TopicPartition, str] = {}
        for tp, offset, error in results:
            generation = self._unanswered.pop((tp, offset), None)
            if generation is None:
                continue  # the partition was forgotten, or a duplicate answer
            if error is None:
                self.offsets.mark_committed(tp, offset, generation)
            else:
                refused[tp] = f"{offset}: {error}"
        if refused:
            # Redelivery would be safe too, but retrying keeps it small.
            logger.warning("offset commit failed, retried with the next commit: %s", refused)

    def commit_before_close(self) -> dict[TopicPartition, int]:
        """Commit synchronously, retrying a refusal a few times with a short
        backoff (a rebalance or a coordinator move usually passes within a
        second); returns the positions still uncommitted after that."""
        delay = self.close_commit_backoff
        for attempt in range(CLOSE_COMMIT_ATTEMPTS):
            if attempt:
                time.sleep(delay)
                delay *= 2
            self.commit(asynchronous=False)
            left = self.offsets.committable()
            if not left:
                return left
        logger.error(
            "offsets not committed at close after %d attempts; their records "
            "will be delivered again: %s",
            CLOSE_COMMIT_ATTEMPTS,
            left,
        )
        return left

    def pause(self, tps: list[TopicPartition]) -> None:
        new = [tp for tp in tps if tp not in self._paused]
        if new:
            self._set_paused(new, True)
            self._paused.update(new)

    def resume(self, tps: list[TopicPartition]) -> None:
        old = [tp for tp in tps if tp in self._paused]
        if old:
            self._set_paused(old, False)
            self._paused.difference_update(old)

    @property
    def paused(self) -> frozenset[TopicPartition]:
        return frozenset(self._paused)

    def forget(self, tps: list[TopicPartition]) -> None:
        """Drop tracking of partitions this consumer no longer owns."""
        self.offsets.forget(tps)
        self._paused.difference_update(tps)
        gone = set(tps)
        for key in [k for k in self._unanswered if k[0] in gone]:
            del self._unanswered[key]


def wait_until(
    predicate: Callable[[], bool], step: Callable[[float], object], timeout: float
) -> bool:
    """Run ``step`` (e.g. a broker poll) until ``predicate`` holds or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        step(min(remaining, 0.05))
    return True
