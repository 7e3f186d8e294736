"""Consumer lag of a worker's groups: high watermark minus committed offset.

Asked through consumers of its own, one per group (same group id, never
subscribed, so they never join the group or trigger a rebalance): the
worker's consumers belong to the poll loop's thread, and lag is only needed
when someone asks. Each queue has its own group (see
``taskqueue.worker.main.consumer_groups``), so a topic's committed offsets
are read in that topic's group.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("taskqueue.control")


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int  # -1: nothing committed yet
    high_watermark: int  # -1: unknown
    lag: int  # -1: unknown


class LagProbe:
    def __init__(self, bootstrap: str, groups: Mapping[str, str], timeout: float = 1.0) -> None:
        """``groups`` maps each topic to the group whose commits count."""
        self.bootstrap = bootstrap
        self.groups = dict(groups)
        self.timeout = timeout
        self._consumers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _consumer(self, group: str) -> Any:
        from confluent_kafka import Consumer

        consumer = self._consumers.get(group)
        if consumer is None:
            consumer = self._consumers[group] = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": group,
                    "enable.auto.commit": False,
                    "client.id": "taskqueue-control-lag",
                }
            )
        return consumer

    def _committed(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        from confluent_kafka import TopicPartition

        by_group: dict[str, list[tuple[str, int]]] = {}
        for tp in partitions:
            by_group.setdefault(self.groups.get(tp[0], ""), []).append(tp)
        committed: dict[tuple[str, int], int] = {}
        for group, tps in by_group.items():
            if not group:
                continue  # not a topic of this worker: nothing committed here
            try:
                answer = self._consumer(group).committed(
                    [TopicPartition(t, p) for t, p in tps], timeout=self.timeout
                )
            except Exception as exc:
                logger.warning("committed offsets of %s unavailable: %s", group, exc)
                continue
            committed.update({(tp.topic, tp.partition): tp.offset for tp in answer})
        return committed

    def measure(self, partitions: list[tuple[str, int]]) -> list[PartitionLag]:
        from confluent_kafka import TopicPartition

        if not partitions:
            return []
        with self._lock:
            committed = self._committed(partitions)
            out = []
            for topic, partition in partitions:
                done = committed.get((topic, partition), -1)
                done = done if done is not None and done >= 0 else -1
                try:
                    low, high = self._consumer(self.groups[topic]).get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=self.timeout, cached=False
                    )
                except Exception:
                    low, high = -1, -1
                lag = -1 if high < 0 else high - (done if done >= 0 else max(low, 0))
                out.append(PartitionLag(topic, partition, done, high, lag))
            return out

    def close(self) -> None:
        with self._lock:
            consumers, self._consumers = self._consumers, {}
        for consumer in consumers.values():
            consumer.close()
