"""Dead letters: inspect, replay and purge a queue's dead-letter topic.

``<topic_prefix><queue>.dead-letter`` receives records a worker could not
run (undecodable, unknown task) and jobs that failed after their retries,
with the reason, error, traceback summary and attempt count in headers
(docs/protocol.md section 4). Kafka cannot delete one record, so "what is
still dead" is tracked by a consumer group of its own,
``<topic_prefix>dlq.<queue>``: entries below its committed offset are
handled (replayed or purged), entries at or above it are listed.

Replay republishes the envelope to its original queue under the **same job
id** (so a caller's ``AsyncResult`` and a database row keyed by it follow
the new run). The job is reopened first: its live state is cleared, and its
result document becomes non-final with the previous attempts kept under
``replays.<n>``. Only an entry whose body names the job its ``tq-id``
header names is replayed: entries are listed and chosen by header, and the
id reopened must be the one chosen. By default the attempt counter restarts at 0, giving the
job its full retry budget again (an operator replays after fixing the
cause); ``keep_retries=True`` continues the count instead, so a job out of
retries gets exactly one more attempt. After a replay or purge the group's
offset moves past every handled entry that has no unhandled entry before
it in its partition (Kafka stores one position per partition).

Python API: ``app.dead_letters("default").list()``, ``.replay(ids)``,
``.purge()``; CLI: ``python -m taskqueue dlq list|replay|purge``.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigurationError, DecodeError
from .message import Message
from .replication import min_in_sync

if TYPE_CHECKING:
    from .app import TaskQueue


logger = logging.getLogger("taskqueue.deadletter")

DEAD_LETTER_TOPIC_CONFIG = {"retention.ms": "-1"}
"""Dead letters are kept until an operator replays or purges them: a job
must never vanish because it waited in a dead-letter topic too long."""


def topic_configs(
    topics: Sequence[str], dead_letter_topics: Sequence[str], replication: int
) -> dict[str, dict[str, str]]:
    """Topic-level settings the project creates its topics with.

    Dead-letter topics keep their records forever. When topics are
    replicated three ways or more, ``min.insync.replicas=2`` makes
    ``acks=all`` mean "on two brokers at least", so one broker's loss never
    loses an acknowledged job.
    """
    configs: dict[str, dict[str, str]] = {t: {} for t in topics}
    for topic in dead_letter_topics:
        configs[topic].update(DEAD_LETTER_TOPIC_CONFIG)
    isr = min_in_sync(replication)
    if isr is not None:
        for config in configs.values():
            config["min.insync.replicas"] = str(isr)
    return configs


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    partition: int
    offset: int
    id: str
    task: str
    reason: str
    error: str
    traceback: str
    attempts: int
    dead_at: float
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "id": self.id,
            "task": self.task,
            "reason": self.reason,
            "error": self.error,
            "attempts": self.attempts,
            "dead_at": self.dead_at,
        }


def _header(headers: list[tuple[str, bytes]], name: str) -> str:
    for k, v in headers:
        if k == name:
            return v.decode(errors="replace") if v is not None else ""
    return ""


class DeadLetters:
    """The dead-letter topic of one queue (Kafka transport only)."""

    def __init__(self, app: TaskQueue, queue: str) -> None:
        s = app.settings
        if not s.broker_url.startswith("kafka://"):
            raise ConfigurationError("dead-letter tools need the Kafka transport")
        self.app = app
        self.queue = queue
        self.topic = s.dead_letter_topic(queue)
        self.group = f"{s.topic_prefix}dlq.{queue}"

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        from .config import kafka_bootstrap

        return Consumer(
            {
                "bootstrap.servers": kafka_bootstrap(self.app.settings),
                "group.id": self.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )

    def _read(self, consumer: Any) -> tuple[builtins.list[DeadLetter], dict[int, int]]:
        """Every entry from the group's position to the end; and those positions."""
        from confluent_kafka import OFFSET_INVALID, TopicPartition

        meta = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
        if meta is None or meta.error is not None:
            raise ConfigurationError(f"dead-letter topic {self.topic} does not exist")
        parts = [TopicPartition(self.topic, p) for p in sorted(meta.partitions)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
        starts, ends = {}, {}
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            pos = committed.get(tp.partition, OFFSET_INVALID)
            starts[tp.partition] = max(low, pos if pos >= 0 else low)
            ends[tp.partition] = high
        todo = {p for p in starts if starts[p] < ends[p]}
        entries: builtins.list[DeadLetter] = []
        if todo:
            consumer.assign([TopicPartition(self.topic, p, starts[p]) for p in sorted(todo)])
            deadline = time.monotonic() + 30
            while todo and time.monotonic() < deadline:
                for m in consumer.consume(500, 0.5):
                    if m.error() is not None:
                        continue
                    entries.append(_entry(m))
                    if m.offset() >= ends[m.partition()] - 1:
                        todo.discard(m.partition())
        return sorted(entries, key=lambda e: (e.partition, e.offset)), starts

    def list(
        self, limit: int | None = None, ids: Iterable[str] | None = None
    ) -> builtins.list[DeadLetter]:
        """Entries not yet handled, oldest first per partition."""
        consumer = self._consumer()
        try:
            entries, _ = self._read(consumer)
        finally:
            consumer.close()
        return _select(entries, ids, limit)

    def replay(
        self,
        ids: Iterable[str] | None = None,
        limit: int | None = None,
        keep_retries: bool = False,
    ) -> builtins.list[str]:
        """Republish entries to their queue (all, or ``ids``); returns the job ids."""
        consumer = self._consumer()
        try:
            entries, starts = self._read(consumer)
            chosen = _select(entries, ids, limit)
            sent, handles = [], []
            for e in chosen:
                try:
                    message = Message.decode(e.value)
                except DecodeError:
                    continue  # nothing a worker could run: purge it instead
                if message.id != e.id:
                    # Selected (and listed) by its tq-id header: reopening the
                    # body's id instead would clear the state of a job nobody
                    # chose, perhaps one that finished. Left listed, to purge.
                    logger.warning(
                        "dead letter %s[%d]@%d not replayed: its header names job %r, "
                        "its body job %r",
                        self.topic,
                        e.partition,
                        e.offset,
                        e.id,
                        message.id,
                    )
                    continue
                message = self._reopen(message, keep_retries)
                s = self.app.settings
                data = message.encode(s.max_message_bytes)
                key = (message.routing_key or message.id).encode()
                handles.append(
                    self.app.transport.send(
                        s.topic(message.queue), data, key, message.kafka_headers()
                    )
                )
                sent.append(e)
            self.app.transport.wait(handles, self.app.settings.publish_timeout + 5)
            self._advance(consumer, entries, {(e.partition, e.offset) for e in sent}, starts)
        finally:
            consumer.close()
        return [e.id for e in sent]

    def purge(self, ids: Iterable[str] | None = None, limit: int | None = None) -> int:
        """Mark entries handled without replaying them; returns how many."""
        consumer = self._consumer()
        try:
            entries, starts = self._read(consumer)
            chosen = _select(entries, ids, limit)
            self._advance(consumer, entries, {(e.partition, e.offset) for e in chosen}, starts)
        finally:
            consumer.close()
        return len(chosen)

    def _reopen(self, message: Message, keep_retries: bool) -> Message:
        """Clear the job's final state so the replayed record runs (see module doc)."""
        self.app.state_backend.forget(message.id)
        retries = message.retries + 1 if keep_retries else 0
        if self.app.settings.results_enabled:
            self.app.result_store.reopen(message.id, retries, keep_attempts=keep_retries)
        return dataclasses.replace(message, retries=retries, eta=None, sent_at=time.time())

    def _advance(
        self,
        consumer: Any,
        entries: builtins.list[DeadLetter],
        handled: set[tuple[int, int]],
        starts: dict[int, int],
    ) -> None:
        from confluent_kafka import TopicPartition

        positions: dict[int, int] = {}
        blocked: set[int] = set()
        for e in entries:  # sorted by partition, offset
            if e.partition in blocked:
                continue
            if (e.partition, e.offset) in handled:
                positions[e.partition] = e.offset + 1
            else:
                blocked.add(e.partition)
        moved = [TopicPartition(self.topic, p, o) for p, o in positions.items() if o > starts[p]]
        if moved:
            consumer.commit(offsets=moved, asynchronous=False)


def _entry(m: Any) -> DeadLetter:
    headers = [(k, v or b"") for k, v in (m.headers() or [])]
    value = m.value() or b""
    try:
        attempts = int(_header(headers, "tq-dead-attempts") or 0)
    except ValueError:
        attempts = 0
    try:
        dead_at = float(_header(headers, "tq-dead-at") or 0)
    except ValueError:
        dead_at = 0.0
    return DeadLetter(
        partition=m.partition(),
        offset=m.offset(),
        id=_header(headers, "tq-id"),
        task=_header(headers, "tq-task"),
        reason=_header(headers, "tq-dead-reason"),
        error=_header(headers, "tq-dead-error"),
        traceback=_header(headers, "tq-dead-traceback"),
        attempts=attempts,
        dead_at=dead_at,
        value=value,
        key=m.key(),
        headers=headers,
    )


def _select(
    entries: list[DeadLetter], ids: Iterable[str] | None, limit: int | None
) -> list[DeadLetter]:
    chosen = entries
    if ids is not None:
        wanted = set(ids)
        chosen = [e for e in entries if e.id in wanted]
    return chosen[:limit] if limit is not None else chosen
