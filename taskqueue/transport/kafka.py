"""Kafka transport on confluent-kafka (librdkafka).

Designed for Kafka as it is, not as an AMQP emulation:

- Publishing hands records to librdkafka's batching producer (idempotent,
  ``acks=all``, lz4) and waits for the delivery report of the records the
  caller cares about. One delivery thread per producer serves the reports
  and resolves each record's handle; a caller waits on its own handles
  (:mod:`.handles`), so concurrent publishers never take turns polling, and
  their records share the producer's batches. Bulk publishing produces
  everything and waits once; nothing flushes per record.
- Consuming fetches batches; acks mark single offsets finished and commits
  store the highest contiguous finished offset per partition (see
  ``offsets.py``), never the consumer's whole position. A position counts
  as committed only when Kafka confirms it (``on_commit`` for asynchronous
  commits, the returned partitions for synchronous ones).
- Rebalancing is cooperative-sticky: a rebalance only moves the partitions
  that must move, and the worker gets a chance to finish or release
  in-flight work of revoked partitions before they go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from ..exceptions import ConfigurationError, PublishError
from .base import (
    AUTO,
    BUSY,
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
    wait_until,
)
from .handles import wait_for_handles

logger = logging.getLogger("taskqueue.kafka")

_PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # retries never duplicate or reorder records
    "acks": "all",
    "compression.type": "lz4",
    # A lone record leaves at once (linger.ms, default 0 in the settings);
    # under load records gather by themselves while earlier requests are in
    # flight (idempotence allows 5 per connection), so batches grow with the
    # number of concurrent publishers without anyone waiting for a batch.
    # Past BUSY_IN_FLIGHT records awaiting their reports, a second producer
    # that lingers a little takes over (see KafkaTransport.send).
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 1_048_576,
}

PERMANENT_PUBLISH_ERRORS = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
    }
)
"""Delivery errors a resend meets again: the topic is missing or refused,
or the record is too large. librdkafka has retried everything else already."""

_CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,  # we commit only what is finished
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",  # a new group must not skip accepted jobs
    "partition.assignment.strategy": "cooperative-sticky",
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 2_000,
    "fetch.wait.max.ms": 100,
    "queued.max.messages.kbytes": 65_536,
}


BUSY_IN_FLIGHT = 32
"""Records awaiting their delivery reports (both producers together) from
which a publish that may take either producer (``lane=AUTO``) takes the
busy one. Eight threads publishing one call each stay below it; a thousand
coroutines go above."""

BUSY_HOLD_SECONDS = 0.2
"""How long ``AUTO`` publishes stay on the busy producer after the last time
the threshold was passed. Many concurrent publishers move in waves (a batch
of acks wakes them all at once), and the trough between two waves must not
send the next wave, record by record, through the prompt producer."""


def auto_lane(in_flight: int, now: float, busy_until: float) -> tuple[str, float]:
    """The producer of an ``AUTO`` publish (``BUSY`` or ``PROMPT``) with
    ``in_flight`` records awaiting reports, and until when the busy one holds."""
    if in_flight >= BUSY_IN_FLIGHT:
        return BUSY, now + BUSY_HOLD_SECONDS
    return (BUSY if now < busy_until else PROMPT), busy_until


class _Producer:
    """One idempotent librdkafka producer and the thread serving its reports;
    created on first use, so building the app never connects."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self._config = config
        self._producer: Producer | None = None
        self._deliveries: _DeliveryThread | None = None
        self._lock = threading.Lock()

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    try:
                        producer = Producer(self._config)
                    except KafkaException as exc:
                        raise ConfigurationError(f"Kafka producer config invalid: {exc}") from exc
                    self._deliveries = _DeliveryThread(producer, self.name)
                    self._producer = producer
        return self._producer

    def in_flight(self) -> int:
        """Records (and requests) awaiting the broker or their report."""
        producer = self._producer
        return len(producer) if producer is not None else 0

    def close(self) -> None:
        with self._lock:
            producer, deliveries = self._producer, self._deliveries
            self._producer = self._deliveries = None
        if producer is None:
            return
        remaining = producer.flush(10)
        if remaining:
            logger.error("%d published records were not acknowledged at close", remaining)
        if deliveries is not None:
            deliveries.stop()


class KafkaTransport(Transport):
    def __init__(
        self,
        bootstrap: str,
        linger_ms: float = 0.0,
        compression: str = "lz4",
        max_message_bytes: int = 1_000_000,
        producer_options: dict[str, Any] | None = None,
        consumer_options: dict[str, Any] | None = None,
        busy_linger_ms: float = 1.0,
    ) -> None:
        self.bootstrap = bootstrap
        config = {
            **_PRODUCER_DEFAULTS,
            "bootstrap.servers": bootstrap,
            "compression.type": compression,
            # Room for the envelope plus Kafka's record overhead.
            "message.max.bytes": max_message_bytes + 64 * 1024,
            **(producer_options or {}),
        }
        # Two producers: the prompt one sends a lone record at once; the busy
        # one lingers busy_linger_ms so that many records at once travel in
        # fewer, larger requests, which costs the broker (on the same cores,
        # often) half the CPU per record. A caller among many waits for a
        # round trip behind the others anyway; a lone caller never lingers.
        self._prompt = _Producer("prompt", {**config, "linger.ms": linger_ms})
        self._busy = (
            _Producer("busy", {**config, "linger.ms": busy_linger_ms})
            if busy_linger_ms > linger_ms
            else self._prompt
        )
        self._busy_until = 0.0  # AUTO publishes take the busy producer until then
        self._consumer_options = {**_CONSUMER_DEFAULTS, **(consumer_options or {})}
        # Consumer lag is read through clients of their own, one per group,
        # never subscribed (see consumer_lag); created on first use.
        self._lag_readers: dict[str, KafkaConsumer] = {}
        self._lag_lock = threading.Lock()

    @property
    def producer(self) -> Producer:
        """The prompt producer (created on first use)."""
        return self._prompt.producer

    def _producer_for(self, lane: str) -> Producer:
        if lane == AUTO:
            in_flight = self._prompt.in_flight() + self._busy.in_flight()
            lane, self._busy_until = auto_lane(in_flight, time.monotonic(), self._busy_until)
        return (self._busy if lane == BUSY else self._prompt).producer

    def declare(
        self,
        topics: Sequence[str],
        partitions: int,
        replication: int,
        configs: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[str]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            existing = set(admin.list_topics(timeout=10).topics)
        except KafkaException as exc:
            raise PublishError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        missing = [t for t in topics if t not in existing]
        if not missing:
            return []
        futures = admin.create_topics(
            [
                NewTopic(
                    t,
                    num_partitions=partitions,
                    replication_factor=replication,
                    config=dict((configs or {}).get(t, {})),
                )
                for t in missing
            ],
            request_timeout=30,
        )
        created = []
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise PublishError(f"cannot create topic {name}: {exc}") from exc
        self._wait_for_leaders(admin, created)
        return created

    def list_topics(self, prefix: str) -> list[str]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            names = admin.list_topics(timeout=10).topics
        except KafkaException as exc:
            raise PublishError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        return sorted(t for t in names if t.startswith(prefix))

    def broker_count(self) -> int:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            return len(admin.list_topics(timeout=10).brokers)
        except KafkaException as exc:
            raise PublishError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc

    def describe_topics(self, topics: Sequence[str]) -> dict[str, TopicReplication]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            meta = admin.list_topics(timeout=10).topics
            present = [t for t in topics if t in meta and meta[t].error is None]
            if not present:
                return {}
            futures = admin.describe_configs([ConfigResource("topic", t) for t in present])
            # describe_configs reports the effective value: the topic's own
            # setting, else the broker's default.
            min_isr = {
                resource.name: int(future.result(timeout=10)["min.insync.replicas"].value)
                for resource, future in futures.items()
            }
        except (KafkaException, TimeoutError) as exc:
            raise PublishError(
                f"cannot describe topics on Kafka at {self.bootstrap}: {exc}"
            ) from exc
        return {
            t: TopicReplication(
                t,
                min((len(p.replicas) for p in meta[t].partitions.values()), default=0),
                min_isr[t],
            )
            for t in present
        }

    def _wait_for_leaders(self, admin: AdminClient, topics: list[str]) -> None:
        """A new topic is usable once every partition has a leader."""

        def ready() -> bool:
            meta = admin.list_topics(timeout=5).topics
            return all(
                t in meta
                and meta[t].error is None
                and meta[t].partitions
                and all(p.leader >= 0 for p in meta[t].partitions.values())
                for t in topics
            )

        if topics and not wait_until(ready, time.sleep, 30):
            raise PublishError(f"topics {topics} have no leader after 30 s")

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        lane: str = PROMPT,
    ) -> PublishHandle:
        handle = PublishHandle(topic, key)

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                handle.resolve(err.str(), None, None, err.code() in PERMANENT_PUBLISH_ERRORS)
            else:
                handle.resolve(None, msg.partition(), msg.offset())

        producer = self._producer_for(lane)
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    key,
                    headers=headers,  # type: ignore[arg-type]
                    on_delivery=delivered,
                )
                return handle
            except BufferError:
                # Local queue full: room comes with delivery reports (this
                # poll serves some too, beside the delivery thread).
                producer.poll(0.05)
            except KafkaException as exc:
                raise PublishError(f"cannot publish to topic {topic}: {exc}") from exc

    def wait(self, handles: Iterable[PublishHandle], timeout: float) -> None:
        # The delivery thread resolves the handles; this thread only sleeps
        # until the last of them is resolved (no polling interval).
        wait_for_handles(list(handles), timeout)

    def service(self) -> None:
        """Nothing to do: the delivery thread serves the reports as they come."""

    def consumer(
        self,
        topics: Sequence[str],
        group_id: str,
        max_window: int,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        config = self.consumer_config(group_id)
        return KafkaBatchConsumer(config, list(topics), max_window, on_assign, on_revoke)

    def consumer_offsets(
        self, groups: Mapping[str, str], partitions: Sequence[TopicPartition], timeout: float = 1.0
    ) -> dict[TopicPartition, PartitionOffsets]:
        by_group: dict[str, list[KafkaTopicPartition]] = {}
        for topic, partition in partitions:
            if topic in groups:
                by_group.setdefault(groups[topic], []).append(KafkaTopicPartition(topic, partition))
        out: dict[TopicPartition, PartitionOffsets] = {}
        with self._lag_lock:
            for group, tps in by_group.items():
                reader = self._lag_readers.get(group)
                if reader is None:
                    # The group's own settings (security included), with
                    # nothing that could move its offsets.
                    config = {**self.consumer_config(group), "enable.auto.commit": False}
                    reader = self._lag_readers[group] = KafkaConsumer(config)
                try:
                    committed = reader.committed(tps, timeout=timeout)
                    for tp in committed:
                        if tp.error is not None:
                            continue
                        low, high = reader.get_watermark_offsets(tp, timeout=timeout, cached=False)
                        position = tp.offset if tp.offset >= 0 else -1
                        out[(tp.topic, tp.partition)] = PartitionOffsets(position, low, high)
                except KafkaException as exc:
                    logger.warning("offsets of group %s unavailable: %s", group, exc)
        return out

    def consumer_config(self, group_id: str) -> dict[str, Any]:
        """librdkafka settings of a consumer in ``group_id``."""
        return {**self._consumer_options, "bootstrap.servers": self.bootstrap, "group.id": group_id}

    def close(self) -> None:
        with self._lag_lock:
            readers, self._lag_readers = self._lag_readers, {}
        for reader in readers.values():
            reader.close()
        self._prompt.close()
        self._busy.close()


class _DeliveryThread:
    """Serves one producer's delivery reports as they arrive.

    ``poll`` blocks in librdkafka (without the GIL) until a report is
    queued, then runs the callbacks, which resolve the handles and wake
    their waiters. The timeout only bounds how long ``stop`` takes.
    """

    POLL_SECONDS = 0.2
    """Longest a poll blocks when no report comes: bounds ``stop``, not latency."""

    def __init__(self, producer: Producer, name: str) -> None:
        self._producer = producer
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"taskqueue-kafka-deliveries-{name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        poll, stopping = self._producer.poll, self._stopping
        while not stopping.is_set():
            try:
                poll(self.POLL_SECONDS)
            except Exception:
                # confluent-kafka re-raises an exception of a callback here;
                # the reports of every other record still need serving.
                logger.exception("a Kafka delivery callback failed")

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(self.POLL_SECONDS * 5)


class KafkaBatchConsumer(Consumer):
    def __init__(
        self,
        config: dict[str, Any],
        topics: list[str],
        max_window: int,
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
    ) -> None:
        super().__init__(max_window)
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._consumer = KafkaConsumer(
            {**config, "error_cb": self._error, "on_commit": self._on_commit}
        )
        self._consumer.subscribe(
            topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    @staticmethod
    def _error(err: KafkaError) -> None:
        logger.warning("kafka consumer: %s", err.str())

    def _assigned(self, _c: Any, partitions: list[KafkaTopicPartition]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        logger.info("partitions assigned: %s", tps)
        if self._on_assign:
            self._on_assign(tps)

    def _revoked(self, _c: Any, partitions: list[KafkaTopicPartition]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        logger.info("partitions revoked: %s", tps)
        if self._on_revoke:
            self._on_revoke(tps)  # finishes/releases work; commits what it can
        self.forget(tps)

    def _lost(self, _c: Any, partitions: list[KafkaTopicPartition]) -> None:
        # Ownership is already gone: committing would fail; just drop state.
        tps = [(p.topic, p.partition) for p in partitions]
        logger.warning("partitions lost (session expired): %s", tps)
        self.forget(tps)

    def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        # consume() waits until it has max_messages OR the timeout expires,
        # so a blocking batch call would add the whole timeout to every
        # job's latency. Take what is already fetched; if nothing is, block
        # for the first record only, then take what arrived with it.
        consume = self._consumer.consume
        records = consume(max_messages, 0)
        if not records and timeout > 0:
            records = consume(1, timeout)
            if records:
                records += consume(max_messages - 1, 0)
        out = []
        for m in records:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    logger.warning(
                        "consume error on %s[%s]: %s", m.topic(), m.partition(), err.str()
                    )
                continue
            out.append(
                Delivery(
                    m.topic() or "",
                    m.partition() or 0,
                    m.offset() or 0,
                    m.key(),
                    m.value(),
                    m.headers() or [],  # type: ignore[arg-type]  # bytes values on consume
                )
            )
        return out

    def _commit(self, positions: dict[TopicPartition, int], asynchronous: bool) -> None:
        offsets = [KafkaTopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            if asynchronous:
                # Answered through on_commit, which consume() serves later.
                self._consumer.commit(offsets=offsets, asynchronous=True)
                return
            answer = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # A synchronous commit raises if any partition failed, without
            # saying which: count them all as refused (the next commit sends
            # them again; a needless resend is harmless).
            reason = exc.args[0].str() if exc.args else str(exc)
            self._answered([(tp, o, reason) for tp, o in positions.items()])
            return
        self._answered(_results(answer or [], None))

    def _on_commit(self, err: KafkaError | None, partitions: list[KafkaTopicPartition]) -> None:
        self._answered(_results(partitions, err))

    def _set_paused(self, tps: list[TopicPartition], paused: bool) -> None:
        parts = [KafkaTopicPartition(t, p) for t, p in tps]
        try:
            (self._consumer.pause if paused else self._consumer.resume)(parts)
        except KafkaException as exc:
            logger.warning("pause=%s of %s failed: %s", paused, tps, exc)

    def assignment(self) -> list[TopicPartition]:
        return [(p.topic, p.partition) for p in self._consumer.assignment()]

    def close(self) -> None:
        self.commit_before_close()
        self._consumer.close()  # leaves the group so partitions move at once


def _results(partitions: list[KafkaTopicPartition], err: KafkaError | None) -> list[CommitResult]:
    """Per-partition commit outcomes. A request-level error counts for every
    partition: Kafka may have stored some of them, but unconfirmed means
    uncommitted here (a resend of a stored position changes nothing)."""
    results: list[CommitResult] = []
    for p in partitions:
        failure = p.error or err
        results.append(
            ((p.topic, p.partition), p.offset, None if failure is None else failure.str())
        )
    return results
