"""Members joining and leaving a worker's grouped consumer at runtime
(Celery's add_consumer/cancel_consumer): on the memory twin (fast tier) and
on the local Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from taskqueue.transport.base import Transport
from taskqueue.transport.grouped import GroupedConsumer
from taskqueue.transport.kafka import KafkaTransport
from taskqueue.transport.memory import MemoryTransport

from .test_groups import _committed, _read


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


def test_member_added_and_removed_at_runtime_commits_in_its_own_group(
    transport: Transport,
) -> None:
    run = uuid.uuid4().hex[:8]
    high, extra = f"m{run}.high", f"m{run}.extra"
    groups = {high: f"m{run}.workers.high", extra: f"m{run}.workers.extra"}
    transport.declare([high, extra], partitions=1, replication=1)
    transport.wait([transport.send(high, b"h0"), transport.send(extra, b"e0")], 10)
    transport.wait([transport.send(extra, b"e1")], 10)

    consumer = GroupedConsumer({high: transport.consumer([high], groups[high], 100)}, 100)
    try:
        assert [d.value for d in _read(consumer, 1)] == [b"h0"]
        consumer.add([extra], transport.consumer([extra], groups[extra], 100))
        second = transport.consumer([extra], groups[extra], 100)
        try:
            with pytest.raises(ValueError, match="consumed here already"):
                consumer.add([extra], second)
        finally:
            second.close()
        got = _read(consumer, 2)
        assert sorted(d.value for d in got) == [b"e0", b"e1"]
        for d in got:
            consumer.ack(d)
        assert consumer.remove(extra) is True
        assert consumer.topics == [high]
        assert all(tp[0] == high for tp in consumer.assignment())
        transport.wait([transport.send(high, b"h1"), transport.send(extra, b"e2")], 10)
        assert [d.value for d in _read(consumer, 1)] == [b"h1"], "the left queue is not read"
    finally:
        consumer.close()
    assert _committed(transport, groups[extra], extra) == 2, "committed before leaving"
    assert _committed(transport, groups[extra], high) is None, "no other topic in its group"
    assert _committed(transport, groups[high], extra) is None
