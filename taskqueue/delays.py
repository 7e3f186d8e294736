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

Supervision: every tier consumer runs under a supervisor thread. An error
that escapes a tier consumer is logged with the tier, its topic and group
and the record being handled; the consumer is closed (forwards already
handed to Kafka are drained and acked first) and started again after a
backoff that doubles from ``RESTART_BACKOFF_FIRST`` up to
``RESTART_BACKOFF_MAX`` (back to the first step after a run of
``STABLE_RUN``). Nothing is lost: a record is acked only once its forward
is acked, so the new consumer reads every unfinished record again; a
record forwarded twice is a duplicate delivery, which the worker's
redelivery check already absorbs.

Malformed records: a tier record whose ``tq-delay-*`` headers are missing
or invalid (no destination, a destination outside this app's topics, a due
or entry time that is not a finite number) is never guessed at: it goes to
a dead-letter topic with reason ``malformed-delay`` and the fault in
``tq-dead-error``. A record whose destination topic does not exist goes
there with reason ``delay-destination-missing``. The dead-letter topic is
that of the destination's queue when the destination is one of this app's
topics (``<topic_prefix><queue>``), else the default queue's; when the
queue's dead-letter topic is missing too, the default queue's is used.

Tier topics found by pattern: besides the tiers in ``delay_tiers`` the
forwarder drains every existing topic named like a tier of this app
(``<topic_prefix>delay.<N>s`` / ``delay.<N>ms``), listed at start and every
``TIER_RESCAN`` seconds. A tier left over from an older ``delay_tiers``
keeps its consumer group (``<topic_prefix>delays.<N>s``), so what was
forwarded before is not forwarded again; its records are released at
``min(due, at + its tier)`` and routed into the *current* tiers. Changing
``delay_tiers`` therefore strands nothing. Such a consumer runs as long as
its topic exists; delete the old topic once its group has no lag to stop
it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import tier_label
from .transport import Consumer, Delivery, PublishHandle

if TYPE_CHECKING:
    from .app import TaskQueue
    from .config import Settings

logger = logging.getLogger("taskqueue.delays")

DEST, DUE, AT = "tq-delay-dest", "tq-delay-due", "tq-delay-at"
"""Headers a delay tier adds to the record (see module doc)."""

EARLY_TOLERANCE = 0.05
"""A record this close to its due time runs now: another hop would only add latency."""

RESTART_BACKOFF_FIRST = 0.5
"""Seconds before a failed tier consumer is started again (doubles per failure)."""

RESTART_BACKOFF_MAX = 30.0
"""Cap of the restart backoff: a tier never waits longer than this to come back."""

STABLE_RUN = 60.0
"""A tier consumer that ran this long before failing restarts after the first step again."""

TIER_RESCAN = 30.0
"""Seconds between looks for tier topics outside ``delay_tiers``."""

MALFORMED = "malformed-delay"
"""Dead-letter reason of a tier record whose delay headers are missing or invalid."""

DESTINATION_MISSING = "delay-destination-missing"
"""Dead-letter reason of a tier record whose destination topic does not exist."""

_DELAY_HEADERS = frozenset({DEST, DUE, AT})
_LABEL = re.compile(r"[0-9]+m?s")


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


def tier_topic_head(settings: Settings) -> str:
    """What every tier topic name of this app starts with (``<topic_prefix>delay.``)."""
    # The name format lives in Settings.delay_topic; derive its head from it.
    return settings.delay_topic(1.0).removesuffix(tier_label(1.0))


def found_tiers(settings: Settings, topics: Sequence[str]) -> dict[str, float]:
    """Tier topics of this app among ``topics`` that are not current tiers.

    Only canonical names count (``delay.5s``, ``delay.200ms``, as
    ``tier_label`` writes them), so a topic maps to exactly one tier and one
    consumer group: the ones it had while it was a current tier.
    """
    head = tier_topic_head(settings)
    current = set(tier_topics(settings))
    found = {}
    for topic in topics:
        label = topic[len(head) :] if topic.startswith(head) else ""
        if topic in current or not _LABEL.fullmatch(label):
            continue
        seconds = int(label[:-2]) / 1000 if label.endswith("ms") else float(label[:-1])
        if seconds > 0 and settings.delay_topic(seconds) == topic:
            found[topic] = seconds
    return found


class MalformedDelay(ValueError):
    """A tier record whose delay headers cannot be trusted; its dead-letter queue rides along."""

    def __init__(self, detail: str, queue: str | None) -> None:
        super().__init__(detail)
        self.queue = queue


@dataclass(frozen=True, slots=True)
class Hold:
    """A tier record with its parsed delay headers, waiting for its release."""

    delivery: Delivery
    dest: str
    due: float
    release: float


def parse_hold(settings: Settings, d: Delivery, tier: float) -> Hold:
    """Check a tier record's delay headers; raise :class:`MalformedDelay` if any is off."""
    raw = d.header(DEST)
    try:
        dest = raw.decode() if raw is not None else ""
    except UnicodeDecodeError:
        dest = ""
    queue = queue_of(settings, dest)
    if queue is None:
        raise MalformedDelay(f"header {DEST} is {raw!r}: not a topic of this app", None)
    due, at = _finite(d, DUE, queue), _finite(d, AT, queue)
    return Hold(d, dest, due, min(due, at + tier))


def queue_of(settings: Settings, topic: str) -> str | None:
    """The queue whose topic ``topic`` is, if it is one of this app's queue topics."""
    prefix = settings.topic_prefix
    queue = topic[len(prefix) :] if topic.startswith(prefix) else ""
    if not queue or found_tiers(settings, [topic]) or topic in tier_topics(settings):
        return None
    # A queue name is a Kafka name; anything else could never be a topic.
    return queue if re.fullmatch(r"[A-Za-z0-9._-]+", queue) else None


def _finite(d: Delivery, name: str, queue: str) -> float:
    raw = d.header(name)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise MalformedDelay(f"header {name} is {raw!r}: not a finite epoch time", queue)
    return value


def _is_missing_topic(error: str) -> bool:
    """Publish errors that no resend can fix: the topic is not there."""
    text = error.lower()
    return "unknown topic" in text


@dataclass(frozen=True, slots=True)
class _Sent:
    """A record handed to Kafka (forwarded or dead-lettered), acked once Kafka has it."""

    delivery: Delivery
    generation: int
    headers: list[tuple[str, bytes]]
    handle: PublishHandle
    queue: str | None
    """Queue whose dead-letter topic takes the record if its topic is missing."""
    dead: bool


class TierConsumer:
    """Forwards the records of one delay tier when they are due (one thread).

    Its own consumer group per tier (``<topic_prefix>delays.<N>s``): tiers
    never rebalance each other, and each tier's lag is visible on its own.
    ``run`` raises what it cannot handle; :class:`DelayForwarder` restarts it.
    """

    def __init__(self, app: TaskQueue, tier: float, stop: threading.Event) -> None:
        s = app.settings
        self.app = app
        self.tier = tier
        self.topic = s.delay_topic(tier)
        self.group = s.delay_group(tier)
        self._stop = stop
        self._held: dict[tuple[str, int], deque[Hold]] = {}
        self._sent: list[_Sent] = []
        self.consumer: Consumer | None = None
        self.record: Delivery | None = None
        """The record being handled, for the supervisor's log when an error escapes."""
        self.forwarded = 0
        self.dead_lettered = 0
        self.restarts = 0

    def run(self) -> None:
        s = self.app.settings
        # A restart reads every unacked record again from the committed position.
        self._held, self._sent, self.record = {}, [], None
        consumer = self.consumer = self.app.transport.consumer(
            [self.topic], self.group, s.max_in_flight_per_partition, None, self._revoked
        )
        try:
            while not self._stop.is_set():
                self.turn(consumer)
        finally:
            try:
                self._drain(consumer, time.monotonic() + 10)
                consumer.close()
            except Exception:
                # The error that brought us here (if any) is the one to report.
                logger.exception("closing delay tier %gs consumer failed", self.tier)
            self.consumer = None

    def turn(self, consumer: Consumer) -> None:
        s = self.app.settings
        batch = consumer.poll(s.consume_batch_size, 0.1)
        for d in batch:
            self.record = d
            try:
                hold = parse_hold(s, d, self.tier)
            except MalformedDelay as exc:
                generation = consumer.offsets.generation(d.tp)
                self._sent.append(self._dead_letter(d, generation, MALFORMED, str(exc), exc.queue))
                continue
            self._held.setdefault(d.tp, deque()).append(hold)
        now = time.time()
        wake = now + 0.5
        for tp, held in self._held.items():
            while held and held[0].release <= now:
                self.record = held[0].delivery
                self._forward(consumer, held[0], now)
                held.popleft()
            if held:
                # Hold the partition at its head: fetching more would only
                # fill memory with records that are due even later.
                consumer.pause([tp])
                wake = min(wake, held[0].release)
            elif tp in consumer.paused:
                consumer.resume([tp])
        self.record = None
        self._ack_sent(consumer)
        consumer.commit(asynchronous=True)
        if not batch:
            self._stop.wait(max(0.0, min(wake - time.time(), 0.5)))

    def _forward(self, consumer: Consumer, hold: Hold, now: float) -> None:
        d = hold.delivery
        topic, headers = route(self.app.settings, hold.dest, hold.due, d.headers, now)
        queue = queue_of(self.app.settings, hold.dest)
        generation = consumer.offsets.generation(d.tp)
        self._sent.append(self._send(d, generation, topic, headers, queue, False))
        self.forwarded += 1

    def _dead_letter(
        self, d: Delivery, generation: int, reason: str, detail: str, queue: str | None
    ) -> _Sent:
        # Imported here: the worker package imports this module.
        from .worker.jobs import dead_letter_headers

        s = self.app.settings
        topic = s.dead_letter_topic(queue or s.default_queue)
        logger.error(
            "delay tier %gs: record %s[%d]@%d dead-lettered to %s (%s: %s)",
            self.tier,
            *d.tp,
            d.offset,
            topic,
            reason,
            detail,
        )
        self.dead_lettered += 1
        headers = dead_letter_headers(d, reason, detail)
        return self._send(d, generation, topic, headers, queue, True)

    def _send(
        self,
        d: Delivery,
        generation: int,
        topic: str,
        headers: list[tuple[str, bytes]],
        queue: str | None,
        dead: bool,
    ) -> _Sent:
        handle = self.app.transport.send(topic, d.value or b"", d.key, headers)
        return _Sent(d, generation, headers, handle, queue, dead)

    def _ack_sent(self, consumer: Consumer) -> None:
        """Ack records once Kafka has their forward or dead letter; resend failed ones."""
        self.app.transport.service()
        s = self.app.settings
        default_dlq = s.dead_letter_topic(s.default_queue)
        still = []
        for sent in self._sent:
            d, handle = sent.delivery, sent.handle
            if not handle.done:
                still.append(sent)
            elif handle.error is None:
                consumer.ack(d, sent.generation)
            elif _is_missing_topic(handle.error) and handle.topic != default_dlq:
                # No resend can succeed. A queue's dead-letter topic is
                # missing: the default queue's takes the record. A forward's
                # topic is missing: dead-letter it with the reason.
                if sent.dead:
                    again = self._send(d, sent.generation, default_dlq, sent.headers, None, True)
                else:
                    detail = f"{handle.topic}: {handle.error}"
                    again = self._dead_letter(
                        d, sent.generation, DESTINATION_MISSING, detail, sent.queue
                    )
                still.append(again)
            else:
                logger.error(
                    "delay tier %gs: publish of %s[%d]@%d to %s failed, resending: %s",
                    self.tier,
                    *d.tp,
                    d.offset,
                    handle.topic,
                    handle.error,
                )
                again = self._send(
                    d, sent.generation, handle.topic, sent.headers, sent.queue, sent.dead
                )
                still.append(again)
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
    """All tier consumers of one worker process, each in a supervised thread.

    The current tiers start at once; tiers found by pattern (see module doc)
    join when a scan finds them.
    """

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.tiers: dict[str, TierConsumer] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> DelayForwarder:
        for tier in self.app.settings.delay_tiers:
            self._launch(TierConsumer(self.app, tier, self._stop))
        scanner = threading.Thread(target=self._scan, name="taskqueue-delay-scan", daemon=True)
        scanner.start()
        self._threads.append(scanner)
        return self

    def _launch(self, tier: TierConsumer) -> None:
        with self._lock:
            if tier.topic in self.tiers or self._stop.is_set():
                return
            self.tiers[tier.topic] = tier
            thread = threading.Thread(
                target=self._supervise,
                args=(tier,),
                name=f"taskqueue-delay-{tier.tier:g}s",
                daemon=True,
            )
            self._threads.append(thread)
        thread.start()

    def _supervise(self, tier: TierConsumer) -> None:
        """Run a tier consumer until stop, starting it again after any error."""
        backoff = RESTART_BACKOFF_FIRST
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                tier.run()
            except Exception:
                if time.monotonic() - started >= STABLE_RUN:
                    backoff = RESTART_BACKOFF_FIRST
                tier.restarts += 1
                d = tier.record
                logger.exception(
                    "delay tier %gs (topic %s, group %s) failed%s; restart %d in %.1f s, "
                    "its unfinished records stay in Kafka",
                    tier.tier,
                    tier.topic,
                    tier.group,
                    f" at record {d.topic}[{d.partition}]@{d.offset}" if d else "",
                    tier.restarts,
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RESTART_BACKOFF_MAX)

    def _scan(self) -> None:
        """Start a consumer for every tier topic outside ``delay_tiers``."""
        s = self.app.settings
        head = tier_topic_head(s)
        while not self._stop.is_set():
            try:
                topics = self.app.transport.list_topics(head)
            except Exception:
                logger.exception("listing delay tier topics failed; retrying in %g s", TIER_RESCAN)
            else:
                for topic, seconds in found_tiers(s, topics).items():
                    if topic not in self.tiers:
                        logger.info(
                            "draining delay tier topic %s, not in delay_tiers %s",
                            topic,
                            list(s.delay_tiers),
                        )
                        self._launch(TierConsumer(self.app, seconds, self._stop))
            self._stop.wait(TIER_RESCAN)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))
