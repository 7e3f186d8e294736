"""In-memory transport for unit tests of pure logic and single-process use.

It mimics Kafka's model (topics of partitions, offsets, one position per
consumer group) so code written against it behaves the same on Kafka. It is
never the proof that a feature works: integration tests use real Kafka.

Faults a test can inject, as Kafka produces them: a refused commit
(``fail_commits``) and a rebalance that takes partitions away, at once or
in the middle of a fetch (``MemoryConsumer.revoke``, ``rebalance_in_next_fetch``).
An asynchronous commit is answered during the next fetch, as Kafka's
``on_commit`` is served by ``consume()``.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence

from ..exceptions import PublishError
from .base import (
    PROMPT,
    CommitResult,
    Consumer,
    Delivery,
    Headers,
    PartitionOffsets,
    PublishHandle,
    RebalanceCallback,
    TopicPartition,
    TopicReplication,
    Transport,
)

BROKER_MIN_INSYNC = 1
"""Kafka's broker default for ``min.insync.replicas``."""


class MemoryTransport(Transport):
    def __init__(self, partitions: int = 1, brokers: int = 1) -> None:
        self.default_partitions = partitions
        self.brokers = brokers
        """A pretend cluster size: replication is checked against it as Kafka does."""
        self.replicas: dict[str, int] = {}
        self._lock = threading.Condition()
        self.topics: dict[str, list[list[Delivery]]] = {}
        self.group_positions: dict[str, dict[TopicPartition, int]] = {}
        self.topic_configs: dict[str, dict[str, str]] = {}
        """Topic-level settings given at creation (nothing enforces them here)."""
        self._refusals = 0
        self._lost_acks = 0

    def lose_acks(self, times: int = 1) -> None:
        """Store the next ``times`` records sent but never confirm them, as
        when Kafka's acknowledgement (not the record) is lost: waiting for
        them fails, though consumers read them."""
        with self._lock:
            self._lost_acks += times

    def fail_commits(self, times: int = 1) -> None:
        """Refuse the next ``times`` commit requests, of any consumer: nothing
        is stored and every partition of the request is reported failed, as
        Kafka does when a request fails (e.g. during a rebalance)."""
        with self._lock:
            self._refusals += times

    def _store_commit(self, group: str, positions: dict[TopicPartition, int]) -> str | None:
        """Store a group's positions, or return why the request was refused."""
        with self._lock:
            if self._refusals:
                self._refusals -= 1
                return "commit refused (injected by fail_commits)"
            self.group_positions[group].update(positions)
            return None

    def declare(
        self,
        topics: Sequence[str],
        partitions: int,
        replication: int,
        configs: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[str]:
        created = []
        with self._lock:
            for name in topics:
                if name not in self.topics:
                    if replication > self.brokers:
                        # Kafka refuses it too (INVALID_REPLICATION_FACTOR).
                        raise PublishError(
                            f"cannot create topic {name}: replication factor {replication} "
                            f"is larger than the {self.brokers} available broker(s)"
                        )
                    self.topics[name] = [[] for _ in range(partitions)]
                    self.topic_configs[name] = dict((configs or {}).get(name, {}))
                    self.replicas[name] = replication
                    created.append(name)
        return created

    def broker_count(self) -> int:
        return self.brokers

    def describe_topics(self, topics: Sequence[str]) -> dict[str, TopicReplication]:
        with self._lock:
            return {
                t: TopicReplication(
                    t,
                    self.replicas[t],
                    int(self.topic_configs[t].get("min.insync.replicas", BROKER_MIN_INSYNC)),
                )
                for t in topics
                if t in self.topics
            }

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        lane: str = PROMPT,
    ) -> PublishHandle:
        del lane  # one log per partition: every lane keeps order
        handle = PublishHandle(topic, key)
        with self._lock:
            parts = self.topics.get(topic)
            if parts is None:
                handle.resolve(f"unknown topic {topic} (declare it first)", None, None, True)
                return handle
            index = zlib.crc32(key) % len(parts) if key else 0
            log = parts[index]
            log.append(Delivery(topic, index, len(log), key, value, list(headers or [])))
            self._lock.notify_all()
            if self._lost_acks:
                self._lost_acks -= 1
                return handle  # stored, never confirmed: the outcome looks unknown
            handle.resolve(None, index, len(log) - 1)
        return handle

    def wait(self, handles: Iterable[PublishHandle], timeout: float) -> None:
        for h in handles:
            h.raise_for_error()

    async def wait_async(self, handles: Sequence[PublishHandle], timeout: float) -> None:
        """Nothing to wait for: a handle is resolved by ``send`` or never."""

    def consumer(
        self,
        topics: Sequence[str],
        group_id: str,
        max_window: int,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        consumer = MemoryConsumer(self, list(topics), group_id, max_window, on_assign, on_revoke)
        if on_assign:
            on_assign(consumer.assignment())
        return consumer

    def consumer_offsets(
        self, groups: Mapping[str, str], partitions: Sequence[TopicPartition], timeout: float = 1.0
    ) -> dict[TopicPartition, PartitionOffsets]:
        out = {}
        with self._lock:
            for topic, partition in partitions:
                parts = self.topics.get(topic)
                if topic not in groups or parts is None or partition >= len(parts):
                    continue
                committed = self.group_positions.get(groups[topic], {}).get((topic, partition), -1)
                out[(topic, partition)] = PartitionOffsets(committed, 0, len(parts[partition]))
        return out

    def list_topics(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(t for t in self.topics if t.startswith(prefix))

    def records(self, topic: str) -> list[Delivery]:
        """Every record of a topic (all partitions), for assertions in tests."""
        with self._lock:
            return [d for part in self.topics.get(topic, []) for d in part]


class MemoryConsumer(Consumer):
    """The only member of its group: owns every partition of its topics,
    except those a test revoked."""

    close_commit_backoff = 0.0  # a refusal here is injected, not transient

    def __init__(
        self,
        transport: MemoryTransport,
        topics: list[str],
        group: str,
        max_window: int,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ):
        super().__init__(max_window)
        self.transport = transport
        self.topics = topics
        self.group = group
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._revoked: set[TopicPartition] = set()
        self._rebalance_in_fetch: tuple[list[TopicPartition], list[TopicPartition]] | None = None
        self._answers: list[CommitResult] = []  # of asynchronous commits
        committed = transport.group_positions.setdefault(group, {})
        self._next: dict[TopicPartition, int] = {
            tp: committed.get(tp, 0) for tp in self.assignment()
        }

    def assignment(self) -> list[TopicPartition]:
        parts = self.transport.topics
        return [
            (t, i)
            for t in self.topics
            for i in range(len(parts.get(t, [])))
            if (t, i) not in self._revoked
        ]

    def revoke(self, tps: list[TopicPartition]) -> None:
        """A rebalance takes these partitions away, as Kafka's would: the
        app's ``on_revoke`` runs first (it may commit), then their tracking
        is dropped and they are no longer fetched."""
        tps = [tp for tp in tps if tp in self._next]
        if not tps:
            return
        if self._on_revoke:
            self._on_revoke(tps)
        self.forget(tps)
        for tp in tps:
            del self._next[tp]
        self._revoked.update(tps)

    def rebalance_in_next_fetch(
        self, revoke: list[TopicPartition], assign: list[TopicPartition] | None = None
    ) -> None:
        """Revoke ``revoke`` (then assign ``assign``) inside the next fetch,
        after it took its records: the poll that straddles a rebalance, as
        Kafka serves rebalances inside consume()."""
        self._rebalance_in_fetch = (list(revoke), list(assign or []))

    def assign(self, tps: list[TopicPartition]) -> None:
        """Give revoked partitions back: fetching resumes at the group's position."""
        tps = [tp for tp in tps if tp in self._revoked]
        if not tps:
            return
        committed = self.transport.group_positions[self.group]
        for tp in tps:
            self._revoked.discard(tp)
            self._next[tp] = committed.get(tp, 0)
        if self._on_assign:
            self._on_assign(tps)

    def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        answers, self._answers = self._answers, []
        self._answered(answers)
        with self.transport._lock:
            batch = self._take(max_messages)
            if not batch and timeout > 0:
                self.transport._lock.wait(timeout)
                batch = self._take(max_messages)
        if self._rebalance_in_fetch is not None:
            (revoked, assigned), self._rebalance_in_fetch = self._rebalance_in_fetch, None
            self.revoke(revoked)
            self.assign(assigned)
        return batch

    def _take(self, max_messages: int) -> list[Delivery]:
        batch: list[Delivery] = []
        for tp, position in self._next.items():
            if tp in self._paused:
                continue
            log = self.transport.topics[tp[0]][tp[1]]
            chunk = log[position : position + max_messages - len(batch)]
            batch.extend(chunk)
            self._next[tp] = position + len(chunk)
            if len(batch) >= max_messages:
                break
        return batch

    def _commit(self, positions: dict[TopicPartition, int], asynchronous: bool) -> None:
        error = self.transport._store_commit(self.group, positions)
        answers = [(tp, offset, error) for tp, offset in positions.items()]
        if asynchronous:
            self._answers.extend(answers)
        else:
            self._answered(answers)

    def _set_paused(self, tps: list[TopicPartition], paused: bool) -> None:
        """Pausing only skips the partition in ``_take``; nothing else to do."""

    def close(self) -> None:
        self.commit_before_close()
