"""Offset commits are exact: a position counts as committed only when the
broker confirms it, a refused commit is sent again (at close too, a bounded
number of times), and records of a partition revoked during a fetch are
dropped, never handed out nor committed by this consumer.

Each rule runs on the memory twin (fast tier) and on the local Kafka.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zlib
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from taskqueue.transport.base import Consumer, Delivery, TopicPartition
from taskqueue.transport.kafka import KafkaBatchConsumer, KafkaTransport
from taskqueue.transport.memory import MemoryConsumer, MemoryTransport
from taskqueue.transport.offsets import OffsetTracker

from ..conftest import wait_for

FAST_KAFKA = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
"""A small session, so the group rebalances within seconds."""


# --- the tracker's confirmation rule ---------------------------------------------


@pytest.mark.fast
def test_confirming_an_older_position_leaves_the_newer_one_to_commit() -> None:
    t = OffsetTracker(max_window=10)
    for o in range(5):
        t.received("a", 0, o)
    t.finished("a", 0, 0)
    t.finished("a", 0, 1)
    assert t.committable() == {("a", 0): 2}  # sent; the answer comes later
    t.finished("a", 0, 2)
    t.finished("a", 0, 3)
    t.mark_committed(("a", 0), 2, t.generation(("a", 0)))
    assert t.committable() == {("a", 0): 4}
    t.mark_committed(("a", 0), 4, t.generation(("a", 0)))
    assert t.committable() == {}


@pytest.mark.fast
def test_confirmation_from_an_earlier_assignment_marks_nothing() -> None:
    t = OffsetTracker(max_window=10)
    t.received("a", 0, 5)
    t.finished("a", 0, 5)
    old = t.generation(("a", 0))
    t.forget([("a", 0)])  # revoked while the commit of 6 was in flight
    t.received("a", 0, 3)  # assigned again, from an older stored position
    t.finished("a", 0, 3)
    t.received("a", 0, 4)
    t.finished("a", 0, 4)
    t.received("a", 0, 5)
    t.finished("a", 0, 5)
    t.mark_committed(("a", 0), 6, old)
    assert t.committable() == {("a", 0): 6}


# --- the memory twin ----------------------------------------------------------------


def memory_topic(partitions: int, per_partition: int) -> MemoryTransport:
    t = MemoryTransport()
    t.declare(["q"], partitions, 1)
    for partition in range(partitions):
        keys = (f"k{i}".encode() for i in range(10_000))
        key = next(k for k in keys if zlib.crc32(k) % partitions == partition)
        for i in range(per_partition):
            t.send("q", str(i).encode(), key)
    return t


def ack_all(consumer: Consumer, batch: list[Delivery]) -> None:
    for d in batch:
        consumer.ack(d, consumer.offsets.generation(d.tp))


@pytest.mark.fast
def test_memory_position_counts_as_committed_only_once_answered() -> None:
    t = memory_topic(1, 5)
    c = t.consumer(["q"], "g", max_window=10)
    batch = c.poll(10, 0)
    ack_all(c, batch[:2])
    assert c.commit() == {("q", 0): 2}
    assert c.unanswered_commits == 1  # answered by the next fetch, as on Kafka
    ack_all(c, batch[2:4])
    c.poll(10, 0)
    assert c.unanswered_commits == 0
    assert t.group_positions["g"] == {("q", 0): 2}
    assert c.offsets.committable() == {("q", 0): 4}  # 4 was never confirmed


@pytest.mark.fast
@pytest.mark.parametrize("asynchronous", [True, False])
def test_memory_refused_commit_is_sent_again(asynchronous: bool) -> None:
    t = memory_topic(1, 3)
    c = t.consumer(["q"], "g", max_window=10)
    ack_all(c, c.poll(10, 0))
    t.fail_commits(1)
    c.commit(asynchronous)
    c.poll(10, 0)  # serves an asynchronous answer
    assert t.group_positions["g"] == {}
    assert c.offsets.committable() == {("q", 0): 3}
    c.commit(asynchronous)
    c.poll(10, 0)
    assert t.group_positions["g"] == {("q", 0): 3}
    assert c.offsets.committable() == {}


@pytest.mark.fast
def test_memory_close_retries_a_refused_commit() -> None:
    t = memory_topic(1, 3)
    c = t.consumer(["q"], "g", max_window=10)
    ack_all(c, c.poll(10, 0))
    t.fail_commits(2)
    c.close()
    assert t.group_positions["g"] == {("q", 0): 3}


@pytest.mark.fast
def test_memory_close_gives_up_after_bounded_attempts(caplog: pytest.LogCaptureFixture) -> None:
    t = memory_topic(1, 3)
    c = t.consumer(["q"], "g", max_window=10)
    ack_all(c, c.poll(10, 0))
    t.fail_commits(3)
    with caplog.at_level(logging.ERROR, "taskqueue.transport"):
        c.close()
    assert t.group_positions["g"] == {}
    assert "not committed at close after 3 attempts" in caplog.text
    assert "('q', 0): 3" in caplog.text
    t.fail_commits(0)
    assert t.consumer(["q"], "g", max_window=10).poll(10, 0)  # delivered again


@pytest.mark.fast
def test_memory_records_of_a_partition_revoked_mid_fetch_are_dropped() -> None:
    t = memory_topic(2, 3)
    revoked: list[list[TopicPartition]] = []
    c = t.consumer(["q"], "g", max_window=10, on_revoke=revoked.append)
    assert isinstance(c, MemoryConsumer)
    c.rebalance_in_next_fetch(revoke=[("q", 1)])
    batch = c.poll(10, 0)
    assert revoked == [[("q", 1)]]
    assert {d.tp for d in batch} == {("q", 0)}
    assert c.offsets.window(("q", 1)) == 0
    ack_all(c, batch)
    c.commit(asynchronous=False)
    assert t.group_positions["g"] == {("q", 0): 3}
    c.assign([("q", 1)])
    assert [d.offset for d in c.poll(10, 0)] == [0, 1, 2]  # its owner reads them


@pytest.mark.fast
def test_memory_records_fetched_before_a_revoke_and_reassign_are_dropped() -> None:
    t = memory_topic(1, 3)
    c = t.consumer(["q"], "g", max_window=10)
    assert isinstance(c, MemoryConsumer)
    c.rebalance_in_next_fetch(revoke=[("q", 0)], assign=[("q", 0)])
    assert c.poll(10, 0) == []  # the partition is ours again, under a new generation
    assert [d.offset for d in c.poll(10, 0)] == [0, 1, 2]


# --- the local Kafka -------------------------------------------------------------------


class KafkaTopic:
    """A fresh two-partition topic on the local Kafka and a group reading it."""

    def __init__(self, bootstrap: str, name: str, per_partition: int) -> None:
        self.name = name
        self.group = f"{name}.g"
        self.transport = KafkaTransport(bootstrap, consumer_options=FAST_KAFKA)
        self.transport.declare([name], 2, 1)
        producer = Producer({"bootstrap.servers": bootstrap})
        for partition in range(2):
            for i in range(per_partition):
                producer.produce(name, str(i).encode(), partition=partition)
        assert producer.flush(30) == 0
        self._viewer = RawConsumer({"bootstrap.servers": bootstrap, "group.id": self.group})
        self.members: list[KafkaBatchConsumer] = []
        """Closed at the end if a test did not: an open member stalls the exit."""

    def committed(self) -> dict[TopicPartition, int]:
        """The group's stored positions, as another client sees them."""
        parts = [KafkaTopicPartition(self.name, p) for p in range(2)]
        return {
            (p.topic, p.partition): p.offset
            for p in self._viewer.committed(parts, timeout=10)
            if p.offset >= 0
        }

    def consumer(self, **callbacks: Callable[[list[TopicPartition]], None]) -> KafkaBatchConsumer:
        c = self.transport.consumer([self.name], self.group, max_window=100, **callbacks)
        assert isinstance(c, KafkaBatchConsumer)
        self.members.append(c)
        return c

    def close(self) -> None:
        for member in self.members:
            with contextlib.suppress(RuntimeError):  # closed by the test already
                member.close()
        self._viewer.close()
        self.transport.close()


@pytest.fixture
def kafka_topic(kafka_bootstrap: str, unique_name: str) -> Iterator[KafkaTopic]:
    topic = KafkaTopic(kafka_bootstrap, f"{unique_name}.commits", per_partition=5)
    yield topic
    topic.close()


def poll_until(consumer: Consumer, count: int) -> list[Delivery]:
    got: list[Delivery] = []

    def enough() -> bool:
        got.extend(consumer.poll(100, 0.2))
        return len(got) >= count

    wait_for(enough, 60)
    return got


def answered(consumer: Consumer) -> bool:
    """Polls once (a poll serves commit answers): has every commit been answered?"""
    assert consumer.poll(100, 0.05) == []
    return consumer.unanswered_commits == 0


def fetch_unregistered(consumer: KafkaBatchConsumer, into: list[Delivery]) -> None:
    """A fetch without the poll's bookkeeping: the records are not registered."""
    into.extend(KafkaBatchConsumer._fetch(consumer, 100, 0.2))


def test_kafka_position_counts_as_committed_only_once_answered(kafka_topic: KafkaTopic) -> None:
    c = kafka_topic.consumer()
    batch = [d for d in poll_until(c, 10) if d.partition == 0]
    ack_all(c, batch[:2])
    assert c.commit() == {(kafka_topic.name, 0): 2}
    assert c.unanswered_commits == 1
    ack_all(c, batch[2:4])
    wait_for(lambda: answered(c), 30)
    assert kafka_topic.committed() == {(kafka_topic.name, 0): 2}
    assert c.offsets.committable() == {(kafka_topic.name, 0): 4}  # 4 was never confirmed
    c.close()
    assert kafka_topic.committed() == {(kafka_topic.name, 0): 4}


def test_kafka_refused_commit_is_sent_again(kafka_topic: KafkaTopic) -> None:
    c = kafka_topic.consumer()
    ack_all(c, [d for d in poll_until(c, 10) if d.partition == 0])
    # Kafka refuses a position of a partition it does not have, and reports
    # every partition of that request as failed.
    missing = (kafka_topic.name, 99)
    c.offsets.received(*missing, 0)
    c.offsets.finished(*missing, 0)
    c.commit()
    wait_for(lambda: answered(c), 30)
    assert c.offsets.committable() == {(kafka_topic.name, 0): 5, missing: 1}
    c.forget([missing])
    c.commit()
    wait_for(lambda: answered(c), 30)
    assert c.offsets.committable() == {}
    assert kafka_topic.committed() == {(kafka_topic.name, 0): 5}
    c.close()


def test_kafka_close_gives_up_after_bounded_attempts(
    kafka_topic: KafkaTopic, caplog: pytest.LogCaptureFixture
) -> None:
    c = kafka_topic.consumer()
    poll_until(c, 10)
    missing = (kafka_topic.name, 99)
    c.offsets.received(*missing, 0)
    c.offsets.finished(*missing, 0)
    with caplog.at_level(logging.WARNING, "taskqueue.transport"):
        c.close()
    assert "not committed at close after 3 attempts" in caplog.text
    assert caplog.text.count("offset commit failed") == 3
    assert f"{missing!r}: 1" in caplog.text


class StraddlingConsumer(KafkaBatchConsumer):
    """Makes certain what happens by chance in production: one fetch that
    takes records, then serves a rebalance, then takes more."""

    between: Callable[[], list[Delivery]] | None = None

    def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        first = super()._fetch(max_messages, timeout)
        between, self.between = self.between, None
        return first if between is None else first + between()


def test_kafka_records_of_a_partition_revoked_mid_fetch_are_dropped(
    kafka_topic: KafkaTopic,
) -> None:
    revoked: list[TopicPartition] = []
    transport = kafka_topic.transport
    a = StraddlingConsumer(
        transport.consumer_config(kafka_topic.group),
        [kafka_topic.name],
        100,
        None,
        revoked.extend,
    )
    kafka_topic.members.append(a)
    fetched: list[Delivery] = []
    # Owning both partitions, a fetches records of both (nothing registered
    # yet: the poll registers a fetch's records when it returns).

    def both_partitions() -> bool:
        fetch_unregistered(a, fetched)
        return {d.partition for d in fetched} == {0, 1}

    wait_for(both_partitions, 60)
    stop = threading.Event()
    b = RawConsumer(transport.consumer_config(kafka_topic.group))  # never commits

    def member_b() -> None:
        b.subscribe([kafka_topic.name])
        while not stop.is_set():
            b.poll(0.1)

    b_thread = threading.Thread(target=member_b, daemon=True)

    def rebalance() -> list[Delivery]:
        b_thread.start()
        more: list[Delivery] = []

        def revoked_one() -> bool:
            fetch_unregistered(a, more)
            return bool(revoked)

        wait_for(revoked_one, 60)
        return fetched + more

    a.between = rebalance
    try:
        batch = a.poll(100, 0)
        assert len(revoked) == 1
        kept = {(kafka_topic.name, 0), (kafka_topic.name, 1)} - set(revoked)
        assert batch and {d.tp for d in batch} == kept
        assert a.offsets.window(revoked[0]) == 0
        ack_all(a, batch)

        def committed() -> bool:
            # A commit while the group still rebalances is refused
            # (ILLEGAL_GENERATION); polling completes the rebalance.
            assert a.poll(100, 0.05) == []
            a.commit(asynchronous=False)
            return not a.offsets.committable()

        wait_for(committed, 30)
        assert kafka_topic.committed() == {next(iter(kept)): 5}  # nothing for the revoked one
        a.close()
    finally:
        stop.set()
        if b_thread.is_alive():
            b_thread.join(10)
        b.close()
