"""Consumer lag of a worker's group: high watermark minus committed offset.

Asked through a consumer of its own (same group id, never subscribed, so it
never joins the group or triggers a rebalance): the worker's consumer
belongs to the poll loop's thread, and lag is only needed when someone asks.
"""

from __future__ import annotations

import logging
import threading
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
    def __init__(self, bootstrap: str, group_id: str, timeout: float = 1.0) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.timeout = timeout
        self._consumer: Any = None
        self._lock = threading.Lock()

    def measure(self, partitions: list[tuple[str, int]]) -> list[PartitionLag]:
        from confluent_kafka import Consumer, TopicPartition

        if not partitions:
            return []
        with self._lock:
            if self._consumer is None:
                self._consumer = Consumer(
                    {
                        "bootstrap.servers": self.bootstrap,
                        "group.id": self.group_id,
                        "enable.auto.commit": False,
                        "client.id": "taskqueue-control-lag",
                    }
                )
            consumer = self._consumer
            tps = [TopicPartition(t, p) for t, p in partitions]
            try:
                committed = {
                    (tp.topic, tp.partition): tp.offset
                    for tp in consumer.committed(tps, timeout=self.timeout)
                }
            except Exception as exc:
                logger.warning("committed offsets of %s unavailable: %s", self.group_id, exc)
                committed = {}
            out = []
            for topic, partition in partitions:
                done = committed.get((topic, partition), -1)
                done = done if done is not None and done >= 0 else -1
                try:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=self.timeout, cached=False
                    )
                except Exception:
                    low, high = -1, -1
                lag = -1 if high < 0 else high - (done if done >= 0 else max(low, 0))
                out.append(PartitionLag(topic, partition, done, high, lag))
            return out

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
