"""In-memory transport for unit tests of pure logic and single-process use.

It mimics Kafka's model (topics of partitions, offsets, one position per
consumer group) so code written against it behaves the same on Kafka. It is
never the proof that a feature works: integration tests use real Kafka.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence

from ..exceptions import PublishError
from .base import (
    Consumer,
    Delivery,
    Headers,
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
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> PublishHandle:
        handle = PublishHandle(topic, key)
        with self._lock:
            parts = self.topics.get(topic)
            if parts is None:
                handle.resolve(f"unknown topic {topic} (declare it first)", None, None, True)
                return handle
            index = zlib.crc32(key) % len(parts) if key else 0
            log = parts[index]
            log.append(Delivery(topic, index, len(log), key, value, list(headers or [])))
            handle.resolve(None, index, len(log) - 1)
            self._lock.notify_all()
        return handle

    def wait(self, handles: Iterable[PublishHandle], timeout: float) -> None:
        for h in handles:
            h.raise_for_error()

    def consumer(
        self,
        topics: Sequence[str],
        group_id: str,
        max_window: int,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        consumer = MemoryConsumer(self, list(topics), group_id, max_window)
        if on_assign:
            on_assign(consumer.assignment())
        return consumer

    def list_topics(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(t for t in self.topics if t.startswith(prefix))

    def records(self, topic: str) -> list[Delivery]:
        """Every record of a topic (all partitions), for assertions in tests."""
        with self._lock:
            return [d for part in self.topics.get(topic, []) for d in part]


class MemoryConsumer(Consumer):
    """The only member of its group: owns every partition of its topics."""

    def __init__(self, transport: MemoryTransport, topics: list[str], group: str, max_window: int):
        super().__init__(max_window)
        self.transport = transport
        self.topics = topics
        self.group = group
        committed = transport.group_positions.setdefault(group, {})
        self._next: dict[TopicPartition, int] = {
            tp: committed.get(tp, 0) for tp in self.assignment()
        }

    def assignment(self) -> list[TopicPartition]:
        parts = self.transport.topics
        return [(t, i) for t in self.topics for i in range(len(parts.get(t, [])))]

    def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        with self.transport._lock:
            batch = self._take(max_messages)
            if not batch and timeout > 0:
                self.transport._lock.wait(timeout)
                batch = self._take(max_messages)
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
        self.transport.group_positions[self.group].update(positions)

    def _set_paused(self, tps: list[TopicPartition], paused: bool) -> None:
        """Pausing only skips the partition in ``_take``; nothing else to do."""

    def close(self) -> None:
        self.commit(asynchronous=False)
