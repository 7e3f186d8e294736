"""One consumer group per queue: a worker serving several queues joins each
queue's group, and its grouped consumer reads, acks, pauses and commits
each topic in that topic's group.

The consumer rules run on the memory twin (fast tier) and on the local
Kafka; the worker-level rule (two workers with different queue lists share
a queue's jobs) is in tests/taskqueue/rules/test_rules.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from taskqueue.config import Settings
from taskqueue.transport.base import Consumer, Delivery, Transport
from taskqueue.transport.grouped import GroupedConsumer
from taskqueue.transport.kafka import KafkaTransport
from taskqueue.transport.memory import MemoryTransport
from taskqueue.worker.main import consumer_groups

from ..conftest import wait_for


@pytest.mark.fast
def test_each_queue_has_its_own_group_whatever_else_the_worker_serves() -> None:
    s = Settings(topic_prefix="tq.")
    alone = consumer_groups(s, ["high"])
    both = consumer_groups(s, ["high", "default"])
    assert alone == {s.topic("high"): "tq.workers.high"}
    assert both[s.topic("high")] == alone[s.topic("high")]
    assert both[s.topic("default")] == "tq.workers.default"


@pytest.mark.fast
def test_a_configured_group_id_puts_every_queue_in_that_group() -> None:
    s = Settings(topic_prefix="tq.")
    assert set(consumer_groups(s, ["high", "default"], "legacy").values()) == {"legacy"}


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.fast), "real"])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    if request.param == "memory":
        yield MemoryTransport()
        return
    kafka = request.getfixturevalue("kafka_bootstrap")
    t = KafkaTransport(
        kafka, consumer_options={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    )
    yield t
    t.close()


def _committed(transport: Transport, group: str, topic: str) -> int | None:
    """The group's stored position of partition 0, as the broker has it."""
    if isinstance(transport, MemoryTransport):
        return transport.group_positions.get(group, {}).get((topic, 0))
    assert isinstance(transport, KafkaTransport)
    raw = RawConsumer({"bootstrap.servers": transport.bootstrap, "group.id": group})
    try:
        [tp] = raw.committed([KafkaTopicPartition(topic, 0)], timeout=10)
        return tp.offset if tp.offset >= 0 else None
    finally:
        raw.close()


def _read(consumer: Consumer, count: int) -> list[Delivery]:
    got: list[Delivery] = []

    def more() -> bool:
        got.extend(consumer.poll(100, 0.1))
        return len(got) >= count

    wait_for(more, 30)
    return got


def test_each_topic_is_read_and_committed_in_its_own_group(transport: Transport) -> None:
    run = uuid.uuid4().hex[:8]
    high, default = f"g{run}.high", f"g{run}.default"
    transport.declare([high, default], partitions=1, replication=1)
    groups = {high: f"g{run}.workers.high", default: f"g{run}.workers.default"}
    for i in range(3):
        transport.wait([transport.send(high, b"h%d" % i)], 10)
    for i in range(2):
        transport.wait([transport.send(default, b"d%d" % i)], 10)

    consumer = transport.grouped_consumer(groups, max_window=100)
    assert isinstance(consumer, GroupedConsumer)
    got = _read(consumer, 5)
    assert sorted(d.value for d in got) == [b"d0", b"d1", b"h0", b"h1", b"h2"]

    for d in got:
        if d.topic == high or d.offset == 0:  # default's second record stays unfinished
            consumer.ack(d)
    consumer.close()

    assert _committed(transport, groups[high], high) == 3
    assert _committed(transport, groups[default], default) == 1
    # Neither group holds a position of the other's topic.
    assert _committed(transport, groups[high], default) is None
    assert _committed(transport, groups[default], high) is None

    # The unfinished record is read again by the next member of its group.
    again = transport.consumer([default], groups[default], max_window=100)
    try:
        assert [d.value for d in _read(again, 1)] == [b"d1"]
    finally:
        again.close()


def test_pausing_a_topic_pauses_only_that_topic(transport: Transport) -> None:
    run = uuid.uuid4().hex[:8]
    high, default = f"p{run}.high", f"p{run}.default"
    transport.declare([high, default], partitions=1, replication=1)
    consumer = transport.grouped_consumer(
        {high: f"p{run}.workers.high", default: f"p{run}.workers.default"}, max_window=100
    )
    try:
        wait_for(lambda: consumer.poll(10, 0.1) or len(consumer.assignment()) == 2, 30)
        consumer.pause([(high, 0)])
        assert consumer.paused == frozenset({(high, 0)})
        transport.wait([transport.send(high, b"h"), transport.send(default, b"d")], 10)
        got = _read(consumer, 1)
        assert [d.value for d in got] == [b"d"]
        consumer.resume([(high, 0)])
        assert consumer.paused == frozenset()
        assert [d.value for d in _read(consumer, 1)] == [b"h"]
    finally:
        consumer.close()


@pytest.mark.fast
def test_a_worker_with_one_queue_keeps_a_plain_consumer() -> None:
    t = MemoryTransport()
    t.declare(["one"], partitions=1, replication=1)
    consumer = t.grouped_consumer({"one": "workers.one"}, max_window=10)
    assert not isinstance(consumer, GroupedConsumer)
    consumer.close()
