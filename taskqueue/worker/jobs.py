"""From pool events to durable writes, and from durable writes to acks.

The :class:`Ledger` collects what finished jobs need stored (Redis state,
Mongo results, follow-up messages such as retries and callbacks) and
releases a job's offset for commit only when all of it is durable:

1. Redis state of the whole batch: one pipeline, synchronous;
2. Mongo result documents: buffered, flushed every few ms / few hundred;
3. follow-up messages: acknowledged by Kafka.

A worker killed before step 3 completes leaves the offset uncommitted, so
the job is redelivered; every write is idempotent, so that is safe.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..canvas import CHORD_HEADER, chord_callback, chord_failed, follow_up
from ..delays import route
from ..message import Message
from ..states import FAILURE, RETRY, STARTED, SUCCESS
from ..stores.result_documents import attempt_entry, outcome_document
from ..stores.state import StateUpdate
from ..transport import Delivery, PublishHandle
from .execute import Outcome

if TYPE_CHECKING:
    from ..app import TaskQueue

logger = logging.getLogger("taskqueue.worker")


@dataclass(eq=False, slots=True)
class Job:
    """One received message on its way through the worker."""

    delivery: Delivery
    message: Message
    redelivered: bool = False
    received_at: float = 0.0
    future: Future | None = None  # type: ignore[type-arg]
    released: bool = False  # its partition was revoked: never ack
    generation: int = 0  # of its partition's assignment when received
    abandoned: bool = False  # failed at its hard time limit; its thread's end is ignored

    @property
    def data(self) -> bytes:
        return self.delivery.value or b""

    def delivery_info(self) -> dict[str, Any]:
        d = self.delivery
        return {"topic": d.topic, "partition": d.partition, "offset": d.offset}


@dataclass(slots=True)
class Outgoing:
    """A record this worker publishes (retry, callback, dead letter) and its ack."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]
    handle: PublishHandle | None = None


@dataclass(slots=True)
class _Pending:
    job: Job
    out: list[Outgoing] = field(default_factory=list)
    mongo_flushed: bool = False
    final: StateUpdate | None = None


class Ledger:
    """Durable-write bookkeeping for the worker loop (loop thread only)."""

    def __init__(self, app: TaskQueue, worker_name: str) -> None:
        self.app = app
        self.worker_name = worker_name
        self.state_updates: list[StateUpdate] = []
        self._waiting_mongo: list[_Pending] = []
        self._waiting_kafka: list[_Pending] = []
        self._last_flush = time.monotonic()
        self.results = app.result_store if app.settings.results_enabled else None
        self._flusher = ThreadPoolExecutor(1, thread_name_prefix="taskqueue-results")
        self._flushing: tuple[Future[int], list[_Pending], list[dict[str, Any]]] | None = None

    # --- recording -------------------------------------------------------------
    def started(self, job: Job) -> None:
        m = job.message
        self.state_updates.append(
            StateUpdate(m.id, STARTED.value, m.retries, worker=self.worker_name)
        )

    def finished(self, job: Job, outcome: Outcome) -> None:
        m = job.message
        payload = outcome.result if outcome.state == SUCCESS else outcome.error
        update = StateUpdate(
            m.id,
            outcome.state,
            m.retries,
            task=m.task,
            queue=m.queue,
            payload=payload,
            traceback=outcome.traceback,
            worker=self.worker_name,
        )
        pending = _Pending(job, final=update)
        pending.out = [self._envelope(msg) for msg in self._follow_ups(m, outcome)]
        if outcome.state == FAILURE:
            pending.out.append(
                Outgoing(
                    self.app.settings.dead_letter_topic(m.queue),
                    job.data,
                    job.delivery.key,
                    dead_letter_headers(
                        job.delivery,
                        outcome.dead_reason,
                        outcome.error or {},
                        traceback=outcome.traceback,
                        attempts=m.retries + 1,
                    )
                    + list(outcome.dead_headers),
                )
            )
        for out in pending.out:
            self.send(out)
        if self.results is not None:
            self.results.record(self._document(job, outcome))
            self._waiting_mongo.append(pending)
        else:
            self.state_updates.append(update)
            self._waiting_kafka.append(pending)

    def skipped(self, job: Job, out: list[Outgoing] | None = None) -> None:
        """A job that needs no run (final already, dead-lettered): ack when sent."""
        for o in out or ():
            self.send(o)
        self._waiting_kafka.append(_Pending(job, list(out or ()), True))

    def send(self, out: Outgoing) -> None:
        out.handle = self.app.transport.send(out.topic, out.value, out.key, out.headers)

    def _envelope(self, message: Message) -> Outgoing:
        s = self.app.settings
        # Retries with a countdown travel through the delay tiers.
        topic, headers = route(s, s.topic(message.queue), message.eta, message.kafka_headers())
        return Outgoing(
            topic,
            message.encode(s.max_message_bytes),
            (message.routing_key or message.id).encode(),
            headers,
        )

    def _follow_ups(self, m: Message, outcome: Outcome) -> list[Message]:
        if outcome.state == RETRY:
            return [m.retry(outcome.countdown)]
        if outcome.state == SUCCESS:
            out = [follow_up(self.app, m, sig, [outcome.result]) for sig in m.callbacks]
            # Before the final state is stored: a member redelivered after
            # that is skipped unrun, so its chord count must be in already.
            callback = chord_callback(self.app, m, outcome.result)
            return out + ([callback] if callback is not None else [])
        if outcome.state == FAILURE:
            callback_id = chord_failed(m.headers.get(CHORD_HEADER))
            if callback_id is not None:
                error = {"exc_type": "ChordError", "exc_message": f"member {m.id} failed"}
                self.state_updates.append(StateUpdate(callback_id, FAILURE.value, 0, payload=error))
            return [follow_up(self.app, m, sig, [m.id]) for sig in m.errbacks]
        return []

    def _document(self, job: Job, outcome: Outcome) -> dict[str, Any]:
        d = job.delivery
        attempt = attempt_entry(
            outcome,
            worker=self.worker_name,
            received_at=job.received_at,
            redelivered=job.redelivered,
            partition=d.partition,
            offset=d.offset,
        )
        return outcome_document(job.message, outcome, worker=self.worker_name, attempt=attempt)

    # --- making it durable -------------------------------------------------------
    def write_states(self) -> None:
        if not self.state_updates:
            return
        updates, self.state_updates = self.state_updates, []
        # A STARTED that reaches Redis in the same round trip as the job's
        # final state tells nobody anything: skip it (a third fewer writes
        # for short tasks).
        finals = {u.job_id for u in updates if u.state != STARTED.value}
        if finals:
            updates = [u for u in updates if u.state != STARTED.value or u.job_id not in finals]
        self.app.state_backend.write_batch(updates)

    def flush_results(self, force: bool = False) -> None:
        """Write buffered results in a background thread, so the loop keeps
        polling and dispatching while Mongo works; ``force`` waits for it."""
        if self._flushing is not None and (force or self._flushing[0].done()):
            self._finish_flush()
        if self._flushing is not None or not self._waiting_mongo or self.results is None:
            return
        s = self.app.settings
        due = (
            time.monotonic() - self._last_flush >= s.result_flush_interval
            or len(self._waiting_mongo) >= s.result_flush_size
        )
        if not (due or force):
            return
        docs, pendings = self.results.take(), self._waiting_mongo
        self._waiting_mongo = []
        self._flushing = (self._flusher.submit(self.results.write, docs), pendings, docs)
        self._last_flush = time.monotonic()
        if force:
            self._finish_flush()

    def _finish_flush(self) -> None:
        assert self._flushing is not None and self.results is not None
        future, pendings, docs = self._flushing
        self._flushing = None
        try:
            future.result()
            logger.debug(
                "stored %d result(s) in %.1f ms",
                len(docs),
                1000 * (time.monotonic() - self._last_flush),
            )
        except Exception as exc:
            # Not durable: keep the jobs unacked and try again next turn.
            logger.error("writing %d result(s) to Mongo failed: %s; retrying", len(docs), exc)
            self.results.put_back(docs)
            self._waiting_mongo = pendings + self._waiting_mongo
            time.sleep(0.1)
            return
        # Redis shows a final state only once Mongo holds it: a redelivered
        # job whose Redis state is final is acked without running, so its
        # durable result must exist by then.
        for p in pendings:
            p.mongo_flushed = True
            if p.final is not None:
                self.state_updates.append(p.final)
        self._waiting_kafka.extend(pendings)

    def ackable(self) -> list[Job]:
        """Jobs whose writes are all durable; resends follow-ups that failed."""
        ready, still = [], []
        for p in self._waiting_kafka:
            handles = [o.handle for o in p.out if o.handle is not None]
            if not all(h.done for h in handles):
                still.append(p)
                continue
            failed = [o for o in p.out if o.handle is not None and o.handle.error]
            if failed:
                # Never ack a job whose retry/dead letter is not in Kafka:
                # resend; if this worker dies first, the job is redelivered.
                logger.error(
                    "publish to %s for job %s failed (%s); resending",
                    failed[0].topic,
                    p.job.message.id,
                    failed[0].handle.error if failed[0].handle else "?",
                )
                for o in failed:
                    self.send(o)
                still.append(p)
                continue
            ready.append(p.job)
        self._waiting_kafka = still
        return ready

    @property
    def busy(self) -> bool:
        return bool(
            self.state_updates or self._waiting_mongo or self._waiting_kafka or self._flushing
        )


def dead_letter_headers(
    delivery: Delivery,
    reason: str,
    error: dict[str, str] | str,
    traceback: str | None = None,
    attempts: int | None = None,
) -> list[tuple[str, bytes]]:
    """Original headers plus why and from where the record was dead-lettered.

    A failed job adds ``tq-dead-traceback`` (the last lines of its traceback:
    where it failed, not the whole stack) and ``tq-dead-attempts``.
    """
    detail = (
        error if isinstance(error, str) else f"{error.get('exc_type')}: {error.get('exc_message')}"
    )
    extra = []
    if traceback:
        extra.append(("tq-dead-traceback", _tail(traceback).encode()[-2000:]))
    if attempts is not None:
        extra.append(("tq-dead-attempts", str(attempts).encode()))
    # Delay headers of a record that came through a tier are not its own.
    original = [(k, v) for k, v in delivery.headers if not k.startswith("tq-delay-")]
    return (
        original
        + extra
        + [
            ("tq-dead-reason", reason.encode()),
            ("tq-dead-error", detail.encode()[:4000]),
            ("tq-original-topic", delivery.topic.encode()),
            ("tq-original-partition", str(delivery.partition).encode()),
            ("tq-original-offset", str(delivery.offset).encode()),
            ("tq-dead-at", repr(time.time()).encode()),
        ]
    )


def _tail(traceback: str, lines: int = 8) -> str:
    """The last lines of a traceback: the failing frame and the error."""
    return "\n".join(traceback.rstrip().splitlines()[-lines:])
