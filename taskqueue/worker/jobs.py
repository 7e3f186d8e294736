"""From pool events to durable writes, and from durable writes to acks.

The :class:`Ledger` collects what finished jobs need stored (Redis state,
Mongo results, follow-up messages such as retries and callbacks) and
releases a job's offset for commit only when all of it is durable, in this
order:

1. follow-up messages: sent at once, then acknowledged by Kafka;
2. Mongo result documents: buffered, flushed every few ms / few hundred;
3. the final Redis state, once both are durable: one pipeline for the batch.

The final state is the redelivery check's marker: a copy of a job whose
state is final (or RETRY, for its attempt) is acked without running. So it
is written last: a worker killed before it leaves the job to run again,
and its follow-ups, republished under the same ids, are the same jobs.
A worker killed before the offset commit only makes the copy skip.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..canvas import CHORD_HEADER, chord_callback, chord_failed, follow_up
from ..delays import route
from ..exceptions import MessageTooLarge, PublishError
from ..lifecycle import IGNORED, revoked
from ..message import Message
from ..policies.revoke import remember_due
from ..states import FAILURE, RETRY, REVOKED, STARTED, SUCCESS
from ..stores.result_documents import (
    UNSTORABLE_EXC_TYPE,
    attempt_entry,
    outcome_document,
    revoked_error,
    unstorable,
)
from ..stores.results import WriteReport
from ..stores.state import StateUpdate
from ..transport import Delivery, PublishHandle
from .caps import capped
from .execute import Outcome
from .metrics import JobMetrics
from .outage import StoreOutage

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
    parked: bool = False  # taken back from the pool during a store outage

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
    sends: int = 0
    dead_letter: bool = False
    """The job's own record on its dead-letter topic: the last place it can go."""


@dataclass(slots=True)
class _Pending:
    job: Job
    out: list[Outgoing] = field(default_factory=list)
    mongo_flushed: bool = False
    final: StateUpdate | None = None
    writes: int = 0  # attempts to store its result document


class Ledger:
    """Durable-write bookkeeping for the worker loop (loop thread only)."""

    def __init__(self, app: TaskQueue, worker_name: str, outage: StoreOutage | None = None) -> None:
        self.app = app
        self.worker_name = worker_name
        self.outage = outage or StoreOutage()
        self.state_updates: list[StateUpdate] = []
        self._waiting_mongo: list[_Pending] = []
        self._waiting_kafka: list[_Pending] = []
        self._waiting_state: list[_Pending] = []  # final state queued, not written yet
        self._durable: list[Job] = []  # everything written: ackable
        self._last_flush = time.monotonic()
        self.results = app.result_store if app.settings.results_enabled else None
        self._flusher = ThreadPoolExecutor(1, thread_name_prefix="taskqueue-results")
        self._flushing: tuple[Future[WriteReport], list[_Pending], list[dict[str, Any]]] | None = (
            None
        )
        self._next_flush = 0.0
        self.metrics = JobMetrics()  # no-op unless the worker serves metrics

    # --- recording -------------------------------------------------------------
    def started(self, job: Job) -> None:
        m = job.message
        self.state_updates.append(
            StateUpdate(m.id, STARTED.value, m.retries, worker=self.worker_name)
        )
        self.metrics.started(job)

    def finished(self, job: Job, outcome: Outcome) -> None:
        m = job.message
        if outcome.state == IGNORED:  # the body raised Ignore: nothing stored, acked
            self.skipped(job)
            return
        outcome = self._unless_revoked(m, capped(outcome, self.app.settings))
        payload = outcome.result if outcome.state == SUCCESS else outcome.error
        if outcome.ignored_result:  # follow-ups below still get the value
            payload = None
        update = self._final_state(m, outcome.state, payload, outcome.traceback)
        pending = _Pending(job, final=update)
        pending.out = self._follow_up_records(m, outcome)
        if outcome.state == FAILURE:
            dead = self._dead_letter(
                job, outcome.dead_reason, outcome.error or {}, outcome.traceback
            )
            dead.headers += list(outcome.dead_headers)
            pending.out.append(dead)
        for out in pending.out:
            if out.handle is None:  # not refused while being built
                self.send(out)
        if self.results is not None:
            stored = (
                dataclasses.replace(outcome, result=None) if outcome.ignored_result else outcome
            )
            self.results.record(self._document(job, stored))
            self._waiting_mongo.append(pending)
        else:
            self._waiting_kafka.append(pending)
        self.metrics.finished(job, outcome)
        if outcome.state == REVOKED:
            revoked(self.app, m, outcome.error)  # the task_revoked signal

    def _unless_revoked(self, m: Message, outcome: Outcome) -> Outcome:
        """A job revoked while its body ran (without terminate) ends REVOKED,
        as the revoke already stored: none of its follow-ups is sent, and
        its chord fails as revoked. A revoke that arrives after this point
        finds the job final and changes nothing."""
        revocations = self.app.running_revocations
        if outcome.state == REVOKED or revocations is None or not revocations.is_revoked(m.id):
            return outcome
        return dataclasses.replace(
            outcome,
            state=REVOKED.value,
            result=None,
            error=revoked_error("revoked while running"),
            countdown=None,
        )

    def skipped(self, job: Job, out: list[Outgoing] | None = None) -> None:
        """A job that needs no run (final already, dead-lettered): ack when sent."""
        for o in out or ():
            self.send(o)
        self._waiting_kafka.append(_Pending(job, list(out or ()), True))

    def send(self, out: Outgoing) -> None:
        out.sends += 1
        try:
            out.handle = self.app.transport.send(out.topic, out.value, out.key, out.headers)
        except PublishError as exc:
            # Refused before it left (unknown topic, record too large): a
            # failed handle, settled in ackable() like a failed delivery.
            out.handle = _refused_handle(out.topic, out.key, str(exc))

    def _follow_up_records(self, m: Message, outcome: Outcome) -> list[Outgoing]:
        """The encoded follow-ups; one that cannot be built is a failed record."""
        try:
            messages = self._follow_ups(m, outcome)
        except Exception as exc:
            if self.app.state.owns_error(exc):
                raise  # the store is down, not the job wrong: the loop holds and retries
            logger.exception("follow-ups of job %s (%s) cannot be built", m.id, m.task)
            return [_failed_record(self.app.settings.topic(m.queue), m, f"cannot build: {exc}")]
        out = []
        for message in messages:
            try:
                out.append(self._envelope(message))
            except (MessageTooLarge, TypeError, ValueError) as exc:
                topic = self.app.settings.topic(message.queue)
                out.append(_failed_record(topic, message, str(exc)))
                if message.id != m.id:  # not a retry: a job that will never exist
                    self._never_sent(message, exc)
        return out

    def _never_sent(self, message: Message, exc: Exception) -> None:
        """A follow-up that cannot be sent ends FAILURE, so whoever waits on
        it (a chain's last result, a chord's callback) gets an answer."""
        error = {"exc_type": type(exc).__name__, "exc_message": f"never sent: {exc}"}
        self.state_updates.append(
            StateUpdate(
                message.id,
                FAILURE.value,
                message.retries,
                task=message.task,
                queue=message.queue,
                payload=error,
            )
        )

    def _dead_letter(
        self,
        job: Job,
        reason: str,
        error: dict[str, str] | str,
        traceback: str | None = None,
    ) -> Outgoing:
        m = job.message
        headers = dead_letter_headers(
            job.delivery, reason, error, traceback=traceback, attempts=m.retries + 1
        )
        topic = self.app.settings.dead_letter_topic(m.queue)
        self.metrics.dead_lettered(job.delivery.topic, m.task)
        return Outgoing(topic, job.data, job.delivery.key, headers, dead_letter=True)

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
            retry = m.retry(outcome.countdown, outcome.retry_args, outcome.retry_kwargs)
            remember_due(self.app, retry)  # a revoke must outlive a far retry
            return [retry]
        if outcome.state == SUCCESS:
            out = [
                follow_up(self.app, m, sig, [outcome.result], f"link/{i}")
                for i, sig in enumerate(m.callbacks)
            ]
            # Before the final state is stored: a member redelivered after
            # that is skipped unrun, so its chord count must be in already.
            callback = chord_callback(self.app, m, outcome.result)
            return out + ([callback] if callback is not None else [])
        if outcome.state in (FAILURE, REVOKED):
            self.fail_chord(m, outcome.state)
        if outcome.state == FAILURE:
            return [
                follow_up(self.app, m, sig, [m.id], f"link_error/{i}")
                for i, sig in enumerate(m.errbacks)
            ]
        return []

    def fail_chord(self, m: Message, state: str) -> None:
        """``m`` is a chord member that ended ``state`` (FAILURE or REVOKED):
        the chord can never complete, so its callback fails, as in Celery."""
        callback_id = chord_failed(m.headers.get(CHORD_HEADER))
        if callback_id is None:
            return
        ended = "failed" if state == FAILURE else "was revoked"
        error = {"exc_type": "ChordError", "exc_message": f"member {m.id} {ended}"}
        self.state_updates.append(StateUpdate(callback_id, FAILURE.value, 0, payload=error))

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
        confirmed, self._waiting_state = self._waiting_state, []
        if not self.state_updates:
            self._durable += [p.job for p in confirmed]
            return
        updates, self.state_updates = self.state_updates, []
        # A STARTED that reaches Redis in the same round trip as the job's
        # final state tells nobody anything: skip it (a third fewer writes
        # for short tasks).
        finals = {u.job_id for u in updates if u.state != STARTED.value}
        if finals:
            updates = [u for u in updates if u.state != STARTED.value or u.job_id not in finals]
        try:
            self.app.state_backend.write_batch(updates)
        except Exception:
            # Kept, in order, for the next try: each update is idempotent
            # under the precedence rule, so writing it twice is safe.
            self.state_updates = updates + self.state_updates
            self._waiting_state = confirmed + self._waiting_state
            raise
        self._durable += [p.job for p in confirmed]

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
        if not (due or force) or time.monotonic() < self._next_flush:
            return
        docs, pendings = self.results.take(), self._waiting_mongo
        self._waiting_mongo = []
        self._flushing = (self._flusher.submit(self.results.write_checked, docs), pendings, docs)
        self._last_flush = time.monotonic()
        if force:
            self._finish_flush()

    def _finish_flush(self) -> None:
        assert self._flushing is not None and self.results is not None
        future, pendings, docs = self._flushing
        self._flushing = None
        try:
            report = future.result()
        except Exception as exc:
            # The store as a whole failed (unreachable): nothing is durable.
            # Keep the jobs unacked and try again after a backoff; failing
            # them would need the very store that is down.
            delay = self.outage.failed(self.results.service, exc)
            logger.debug("%d result(s) kept for the next try in %.1f s", len(docs), delay)
            self.results.put_back(docs)
            self._waiting_mongo = pendings + self._waiting_mongo
            self._next_flush = time.monotonic() + delay
            return
        self.outage.answered(self.results.service)
        logger.debug(
            "stored %d result(s) in %.1f ms",
            len(docs),
            1000 * (time.monotonic() - self._last_flush),
        )
        if report.retry:
            pendings = self._retry_later(pendings, report)
        # Redis shows a final state only once Mongo holds it (and Kafka the
        # follow-ups, see confirm): a redelivered job whose Redis state is
        # final is acked without running, so its result must exist by then.
        for p in pendings:
            p.mongo_flushed = True
            reason = report.failed.get(p.job.message.id)
            if reason is not None:
                self._unstorable(p, reason)
        self._waiting_kafka.extend(pendings)

    def _retry_later(self, pendings: list[_Pending], report: WriteReport) -> list[_Pending]:
        """Put back documents refused for a passing reason (the others are
        stored); past ``result_write_retries`` their jobs fail instead."""
        assert self.results is not None
        retry_ids = {d["_id"] for d in report.retry}
        limit = self.app.settings.result_write_retries
        again, done = [], []
        for p in pendings:
            if p.job.message.id not in retry_ids:
                done.append(p)
                continue
            p.writes += 1
            again.append(p)
        give_up = {p.job.message.id for p in again if p.writes > limit}
        docs = []
        for d in report.retry:
            if d["_id"] in give_up:
                reason = f"refused {limit + 1} times, last for a passing reason"
                docs.append(unstorable(d, reason))
                report.failed[d["_id"]] = reason
            else:
                docs.append(d)
        logger.warning("%d result(s) refused for a passing reason; retrying", len(docs))
        self.results.put_back(docs)
        self._waiting_mongo = again + self._waiting_mongo
        self._next_flush = time.monotonic() + min(0.1 * 2 ** max(p.writes for p in again), 5.0)
        return done

    def _final_state(
        self, m: Message, state: str, payload: Any, traceback: str | None
    ) -> StateUpdate:
        """The job's final Redis state, written once its result is durable."""
        return StateUpdate(
            m.id,
            state,
            m.retries,
            task=m.task,
            queue=m.queue,
            payload=payload,
            traceback=traceback,
            worker=self.worker_name,
        )

    def _unstorable(self, p: _Pending, reason: str) -> None:
        """The store kept a FAILURE in place of the job's document: Redis
        says the same, and the job's record goes to its dead-letter topic
        (follow-ups sent with the result stay sent)."""
        m = p.job.message
        error = {"exc_type": UNSTORABLE_EXC_TYPE, "exc_message": f"result not storable: {reason}"}
        p.final = self._final_state(m, FAILURE.value, error, None)
        if not any(o.dead_letter for o in p.out):
            dead = self._dead_letter(p.job, "unstorable-result", error)
            self.send(dead)
            p.out.append(dead)

    def ackable(self) -> list[Job]:
        """Jobs whose writes are all durable (taken: each is returned once)."""
        durable, self._durable = self._durable, []
        return durable

    def confirm(self) -> None:
        """Queue the final state of jobs whose follow-ups Kafka acknowledged
        (:meth:`write_states` writes it); settle follow-ups that failed.

        A follow-up that failed for a passing reason is resent, at most
        ``follow_up_publish_retries`` times; one that failed for good (its
        topic does not exist, it is too large), or ran out of resends, sends
        the job's own record to its dead-letter topic with the reason, and
        the job is acked once that is in Kafka. Only a dead letter that
        failed for good is given up (logged): no other place is left.
        """
        ready: list[_Pending] = []
        still = []
        limit = self.app.settings.follow_up_publish_retries
        for p in self._waiting_kafka:
            handles = [o.handle for o in p.out if o.handle is not None]
            if not all(h.done for h in handles):
                still.append(p)
                continue
            failed = [o for o in p.out if o.handle is not None and o.handle.error]
            if not failed:
                ready.append(p)
                continue
            m = p.job.message
            lost = [o for o in failed if o.dead_letter and _gives_up(o, None)]
            if lost:
                logger.critical(
                    "dead letter of job %s (%s) to %s refused: %s; acking without it",
                    m.id,
                    m.task,
                    lost[0].topic,
                    _error_of(lost[0]),
                )
                ready.append(p)
                continue
            broken = [o for o in failed if not o.dead_letter and _gives_up(o, limit)]
            if broken:
                o = broken[0]
                reason = f"publish to topic {o.topic} failed: {_error_of(o)}"
                logger.error(
                    "follow-up of job %s (%s) failed: %s; dead-lettering", m.id, m.task, reason
                )
                dead = self._dead_letter(p.job, "follow-up-failed", reason)
                self.send(dead)
                # The other follow-ups stay as sent; the failed ones are
                # replaced by the dead letter (a replay sends them again).
                p.out = [x for x in p.out if x not in failed] + [dead]
                self._fail_retry(p, reason)
                still.append(p)
                continue
            # Never ack a job whose retry/dead letter is not in Kafka:
            # resend; if this worker dies first, the job is redelivered.
            logger.error(
                "publish to %s for job %s failed (%s); resending",
                failed[0].topic,
                m.id,
                _error_of(failed[0]),
            )
            for o in failed:
                self.send(o)
            still.append(p)
        self._waiting_kafka = still
        for p in ready:
            if p.final is not None:
                self.state_updates.append(p.final)
        self._waiting_state += ready

    def _fail_retry(self, p: _Pending, reason: str) -> None:
        """A RETRY whose next attempt was never published ends the job:
        its final state becomes FAILURE (RETRY was not written yet: the final
        state waits for the follow-ups), or it would wait in RETRY forever."""
        if p.final is None or p.final.state != RETRY.value:
            return
        m = p.job.message
        error = {"exc_type": "FollowUpFailed", "exc_message": reason}
        # Not the next attempt's number: that attempt never exists.
        p.final = StateUpdate(
            m.id, FAILURE.value, m.retries, task=m.task, queue=m.queue, payload=error
        )
        if self.results is not None:
            try:
                self.results.mark_final(m.id, FAILURE.value, m.retries, error)
            except Exception:  # the final state says it; the loop must go on
                logger.exception(
                    "storing FAILURE of job %s in %s failed", m.id, self.results.service
                )

    @property
    def busy(self) -> bool:
        return bool(
            self.state_updates
            or self._waiting_mongo
            or self._waiting_kafka
            or self._waiting_state
            or self._durable
            or self._flushing
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


def _gives_up(out: Outgoing, limit: int | None) -> bool:
    """Whether a failed publish is not to be resent (``limit``: of resends)."""
    handle = out.handle
    assert handle is not None
    return handle.permanent or (limit is not None and out.sends > limit)


def _error_of(out: Outgoing) -> str:
    return (out.handle.error if out.handle else None) or "?"


def _refused_handle(topic: str, key: bytes | None, error: str) -> PublishHandle:
    handle = PublishHandle(topic, key)
    handle.resolve(error, None, None, permanent=True)
    return handle


def _failed_record(topic: str, message: Message, error: str) -> Outgoing:
    """A follow-up that could not even be encoded (too large, not JSON)."""
    key = (message.routing_key or message.id).encode()
    out = Outgoing(topic, b"", key, [])
    out.handle = _refused_handle(topic, key, error)
    return out


def _tail(traceback: str, lines: int = 8) -> str:
    """The last lines of a traceback: the failing frame and the error."""
    return "\n".join(traceback.rstrip().splitlines()[-lines:])
