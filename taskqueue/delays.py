"""Delays that survive restarts: Kafka delay tiers (countdown, eta, retry backoff).

A delayed record never waits in a worker's memory only. It is written to a
*delay tier*: one topic per configured delay (``delay_tiers``, default
1 s, 5 s, 30 s, 2 min, 10 min, 1 h), named ``<topic_prefix>delay.<N>s``
(``delay.<N>ms`` for a sub-second tier).
The record keeps its envelope unchanged and gains three headers:

``tq-delay-dest``  topic the record is finally for (its queue's topic)
``tq-delay-due``   epoch seconds when it may run (the envelope's ``eta``)
``tq-delay-at``    epoch seconds when it entered this tier

A record goes to the *largest tier not exceeding the remaining delay* and is
released from it at ``min(due, at + tier)``; then it is routed again (the
next, smaller tier, or its queue once due). So a 2-hour countdown hops
1 h, 1 h; a 45 s one hops 30 s, 5 s, 5 s, 5 s. Inside one tier the release
times are (nearly) ascending, which is what lets a tier consumer simply
wait for the head of each partition: it pauses the partition until the
head is due, forwards it, and only then acks it (the commit point follows),
so a worker killed while a record waits leaves it uncommitted in Kafka.

Lateness bound: a record is forwarded to its queue at most
``smallest tier + one poll (~0.1 s) + publish latency`` after its due time
(a record behind a head with a later release waits for it; heads of the
smallest tier are released at most one tier after they entered it), plus
the time its queue's backlog takes. While no worker runs, nothing moves;
the bound applies from the moment one does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .transport import Consumer, Delivery, PublishHandle

if TYPE_CHECKING:
    from .app import TaskQueue
    from .config import Settings

logger = logging.getLogger("taskqueue.delays")

DEST, DUE, AT = "tq-delay-dest", "tq-delay-due", "tq-delay-at"
"""Headers a delay tier adds to the record (see module doc)."""

EARLY_TOLERANCE = 0.05
"""A record this close to its due time runs now: another hop would only add latency."""

_DELAY_HEADERS = frozenset({DEST, DUE, AT})


def pick_tier(tiers: Sequence[float], remaining: float) -> float:
    """The largest tier not exceeding ``remaining`` (the smallest if none does)."""
    chosen = tiers[0]
    for tier in tiers:
        if tier <= remaining:
            chosen = tier
    return chosen


def route(
    settings: Settings,
    dest_topic: str,
    due: float | None,
    headers: list[tuple[str, bytes]],
    now: float | None = None,
) -> tuple[str, list[tuple[str, bytes]]]:
    """Where a record due at ``due`` goes now: its destination or a delay tier.

    Returns the topic and the headers to send with (the delay headers are
    replaced, never duplicated, when a record hops from tier to tier).
    """
    now = time.time() if now is None else now
    base = [(k, v) for k, v in headers if k not in _DELAY_HEADERS]
    if due is None or due - now <= EARLY_TOLERANCE:
        return dest_topic, base
    tier = pick_tier(settings.delay_tiers, due - now)
    return settings.delay_topic(tier), base + [
        (DEST, dest_topic.encode()),
        (DUE, repr(due).encode()),
        (AT, repr(now).encode()),
    ]


def tier_topics(settings: Settings) -> list[str]:
    return [settings.delay_topic(t) for t in settings.delay_tiers]


def _float(d: Delivery, name: str) -> float | None:
    raw = d.header(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class TierConsumer:
    """Forwards the records of one delay tier when they are due (one thread).

    Its own consumer group per tier (``<topic_prefix>delays.<N>s``): tiers
    never rebalance each other, and each tier's lag is visible on its own.
    """

    def __init__(self, app: TaskQueue, tier: float, stop: threading.Event) -> None:
        s = app.settings
        self.app = app
        self.tier = tier
        self.topic = s.delay_topic(tier)
        self.group = s.delay_group(tier)
        self._stop = stop
        self._held: dict[tuple[str, int], deque[Delivery]] = {}
        self._sent: list[tuple[Delivery, int, PublishHandle]] = []
        self.consumer: Consumer | None = None
        self.forwarded = 0

    def release_time(self, d: Delivery) -> float:
        due = _float(d, DUE)
        at = _float(d, AT)
        if due is None:
            return 0.0  # not a delay record (written by hand?): forward at once
        return min(due, at + self.tier) if at is not None else due

    def run(self) -> None:
        s = self.app.settings
        consumer = self.consumer = self.app.transport.consumer(
            [self.topic], self.group, s.max_in_flight_per_partition, None, self._revoked
        )
        try:
            while not self._stop.is_set():
                self.turn(consumer)
        except Exception:
            logger.exception("delay tier %gs stopped by an error; records stay in Kafka", self.tier)
        finally:
            self._drain(consumer, time.monotonic() + 10)
            consumer.close()

    def turn(self, consumer: Consumer) -> None:
        batch = consumer.poll(self.app.settings.consume_batch_size, 0.1)
        for d in batch:
            self._held.setdefault(d.tp, deque()).append(d)
        now = time.time()
        wake = now + 0.5
        for tp, held in self._held.items():
            while held and self.release_time(held[0]) <= now:
                self._forward(consumer, held.popleft(), now)
            if held:
                # Hold the partition at its head: fetching more would only
                # fill memory with records that are due even later.
                consumer.pause([tp])
                wake = min(wake, self.release_time(held[0]))
            elif tp in consumer.paused:
                consumer.resume([tp])
        self._ack_sent(consumer)
        consumer.commit(asynchronous=True)
        if not batch:
            self._stop.wait(max(0.0, min(wake - time.time(), 0.5)))

    def _forward(self, consumer: Consumer, d: Delivery, now: float) -> None:
        dest = (d.header(DEST) or b"").decode()
        if not dest:
            logger.error("delay record %s[%d]@%d has no destination; dropped", *d.tp, d.offset)
            consumer.ack(d)
            return
        topic, headers = route(self.app.settings, dest, _float(d, DUE), d.headers, now)
        handle = self.app.transport.send(topic, d.value or b"", d.key, headers)
        self._sent.append((d, consumer.offsets.generation(d.tp), handle))
        self.forwarded += 1

    def _ack_sent(self, consumer: Consumer) -> None:
        """Ack forwarded records once Kafka has them; resend failed ones."""
        self.app.transport.service()
        still = []
        for d, generation, handle in self._sent:
            if not handle.done:
                still.append((d, generation, handle))
            elif handle.error:
                logger.error("forwarding from delay tier %gs failed: %s", self.tier, handle.error)
                retry = self.app.transport.send(handle.topic, d.value or b"", d.key, d.headers)
                still.append((d, generation, retry))
            else:
                consumer.ack(d, generation)
        self._sent = still

    def _drain(self, consumer: Consumer, deadline: float) -> None:
        while self._sent and time.monotonic() < deadline:
            self._ack_sent(consumer)
            time.sleep(0.01)

    def _revoked(self, tps: list[tuple[str, int]]) -> None:
        # Forwarded records are acked once sent; held ones stay uncommitted
        # and the partition's next owner reads them again.
        if self.consumer is not None:
            self._drain(self.consumer, time.monotonic() + 10)
            self.consumer.commit(asynchronous=False)
        for tp in tps:
            self._held.pop(tp, None)


class DelayForwarder:
    """All tier consumers of one worker process, one thread each."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        self._stop = threading.Event()
        self.tiers = [TierConsumer(app, t, self._stop) for t in app.settings.delay_tiers]
        self._threads: list[threading.Thread] = []

    def start(self) -> DelayForwarder:
        for tier in self.tiers:
            thread = threading.Thread(
                target=tier.run, name=f"taskqueue-delay-{tier.tier:g}s", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
