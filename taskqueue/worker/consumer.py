"""The worker's poll loop: fetch, dispatch to the pool, store, ack, commit.

The loop never runs task code. Each turn it:

1. polls a batch (short timeout while work is in flight, so finished jobs
   are stored promptly);
2. decodes it; malformed records and undecodable bodies go to the queue's
   dead-letter topic with the reason in headers; jobs of unknown tasks go
   back through the delay tiers for a grace period (``worker.unknown``);
3. writes RECEIVED for the whole batch in one Redis pipeline; the script's
   answer tells which jobs already ended (redelivered after they finished,
   see ``worker.redelivery`` for jobs older than their state): those are
   acked without running again, as is a second copy of a job in flight;
4. hands the rest to the pool; a record that arrives before its eta (a
   publisher's clock ahead, or a record written straight to the queue) is
   sent to a delay tier and acked once Kafka has it (``taskqueue.delays``):
   no delayed job is ever held in a worker's memory;
5. drains pool events into one Redis pipeline, buffers Mongo results,
   flushes them when due, and acks jobs whose writes are durable;
6. applies back-pressure: pauses partitions while the pool is saturated or
   a partition's in-flight window is full, resumes them when they drain;
7. commits the highest contiguous finished offset per partition.

Control commands (pool resizes, queues added or cancelled) reach the loop
through its :class:`~taskqueue.worker.mailbox.Mailbox` and run at the start
of a turn, in the loop's thread; autoscale (``worker.sizing``) and the
closing of cancelled queues (``worker.subscriptions``) are steps of a turn.

A store that fails as a whole (``taskqueue.worker.outage``) stops none of
this for good: the step that failed keeps what it had (the batch waiting
for its RECEIVED write, the outcome waiting to be recorded, the state
updates), every partition is paused and jobs not started yet are taken
back from the pool; the loop keeps polling, retries with backoff and goes
on where it stopped when the store answers.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import time
from collections import deque
from typing import TYPE_CHECKING

from ..delays import route
from ..exceptions import DecodeError, InvalidEnvelope
from ..message import Message
from ..message_checks import CHORD_HEADER
from ..middleware import Admission, Stage, VerdictKind
from ..policies.priority import WeightedQueues
from ..states import FAILURE, RECEIVED, REVOKED
from ..stores.state import LEASED, SUPERSEDED, StateUpdate
from ..transport import Consumer, Delivery
from .events import EventKind
from .execute import Outcome
from .jobs import Job, Ledger, Outgoing, dead_letter_headers
from .mailbox import Mailbox
from .outage import StoreOutage
from .pool import Pool
from .redelivery import ended_durably, is_old
from .sizing import PoolSizing
from .snapshot import ActiveJob, LoopSnapshot, RebalanceListener, TopicPartition
from .unknown import UnknownTasks

if TYPE_CHECKING:
    from ..app import TaskQueue
    from .subscriptions import Subscriptions

logger = logging.getLogger("taskqueue.worker")

COMMIT_INTERVAL = 0.2
"""Seconds between asynchronous offset commits while busy."""


class PollLoop:
    def __init__(self, app: TaskQueue, pool: Pool, name: str, queues: list[str]) -> None:
        self.app = app
        self.pool = pool
        self.name = name
        self.queues = queues
        self.events = pool.events
        self.outage = StoreOutage(app.settings.outage_shutdown_after)
        self.ledger = Ledger(app, name, self.outage)
        # Work a store outage interrupted, resumed in order once it answers:
        # decoded jobs not admitted yet, admitted jobs whose RECEIVED is not
        # written, finished attempts not recorded, jobs taken back from the pool.
        self._entering: list[Job] = []
        self._registering: list[Job] = []
        self._unrecorded: deque[_Unrecorded] = deque()
        self._parked: list[Job] = []
        # Several queues: fetched jobs wait here and enter the pool by weight.
        self.held: WeightedQueues | None = None
        if len(queues) > 1:
            limit = max(pool.size * 4, app.settings.consume_batch_size)
            self.held = WeightedQueues(queues, app.settings.queue_weights, limit)
        self.consumer: Consumer | None = None
        # Submitted to the pool, not finished; the values are what the
        # snapshot shows of them (built once per job, not once per turn).
        self.jobs: dict[Job, ActiveJob] = {}
        # Registered and not acked yet, by (job id, attempt): a second copy
        # of an attempt (two records of one job, a redelivery while the first
        # runs) is acked without running while its first copy is here.
        self._live: dict[tuple[str, int], Job] = {}
        self.unknown_tasks = UnknownTasks(app.settings.unknown_task_grace)
        self.stopping = False
        self.cold = False  # cold shutdown: revoke must not wait for running jobs
        self.processed = 0
        self._last_commit = time.monotonic()
        self._queue_of_topic = {app.settings.topic(q): q for q in queues}
        self._listeners: list[RebalanceListener] = []
        self.snapshot = LoopSnapshot()
        """Replaced (never mutated) by the loop thread; safe to read from any thread."""
        self._changed = False
        self.mailbox = Mailbox()
        """Control commands from other threads, run between turns."""
        self.sizing = PoolSizing(pool)
        """Pool resizes on command (and autoscale, when the Worker sets one up)."""
        self.subscriptions: Subscriptions | None = None
        """Queues added and cancelled at runtime (set by the Worker with the consumer)."""
        self.draining: set[str] = set()
        """Topics of cancelled queues: their partitions stay paused while the
        jobs already fetched from them finish."""

    # --- one turn -----------------------------------------------------------
    def turn(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        self.mailbox.run_pending()  # a command's error goes to its caller, not here
        outage = self.outage
        if outage.active:
            self._hold()
            if not outage.due():
                return
        busy = bool(self.jobs or self.ledger.busy)
        batch = (
            []
            if self.stopping or outage.active
            else consumer.poll(self.app.settings.consume_batch_size, 0.002 if busy else 0.1)
        )
        if self.stopping:
            consumer.poll(1, 0.01)  # keeps group membership alive; all paused
        try:
            if outage.active:
                self._probe()
            self.dispatch(batch)
            self.feed()
            self.settle()
        except Exception as exc:
            self._note_outage(exc)  # re-raises what is not a store's failure
            self._hold()
            return
        if outage.active:  # the result store still fails (the ledger retries it)
            self._hold()
            return
        if self._parked:
            self._unpark()
        self.sizing.step(self.pool.unfinished + (len(self.held) if self.held is not None else 0))
        if self.subscriptions is not None:
            self.subscriptions.step()
        self.backpressure()
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL:
            consumer.commit(asynchronous=True)
            self._last_commit = time.monotonic()
        self.publish()

    def dispatch(self, batch: list[Delivery]) -> None:
        """Decode a fetched batch, then admit and register it (and whatever
        an outage left waiting at either step)."""
        now = time.time()
        self._take(batch, now)
        if self._entering:
            # Kept until admission answered: a store error leaves them here.
            self._registering += self._admitted(self._entering, now)
            self._entering = []
        if self._registering:
            self._register()

    def _take(self, batch: list[Delivery], now: float) -> None:
        for d in batch:
            job = self._decode(d, now)
            if job is not None:
                self._entering.append(job)

    def _register(self) -> None:
        """Write RECEIVED for the admitted jobs; start those not final already."""
        ended = self._ended_long_ago(self._registering)
        jobs = [j for j in self._registering if j not in ended]
        updates = [
            StateUpdate(
                j.message.id,
                RECEIVED.value,
                j.message.retries,
                task=j.message.task,
                queue=j.message.queue,
                worker=self.name,
            )
            for j in jobs
        ]
        lease = self.app.settings.owner_lease
        answers = self.app.state_backend.write_batch(updates, lease=lease)
        self._registering = []
        for job, state in ended.items():
            logger.info(
                "job %s (%s) already %s (its durable result; no state left in %s); "
                "acking redelivery without running",
                job.message.id,
                job.message.task,
                state,
                self.app.state.service,
            )
            self.ledger.skipped(job)
        for job, (code, previous, attempt) in zip(jobs, answers, strict=True):
            if code == SUPERSEDED:
                logger.info(
                    "job %s (%s) already %s; acking redelivery without running",
                    job.message.id,
                    job.message.task,
                    previous,
                )
                if previous == REVOKED.value:  # revoked before it ever ran
                    self.ledger.fail_chord(job.message, previous)
                self.ledger.skipped(job)
                continue
            if code == LEASED:
                # Its owner (another worker, alive) runs this attempt: the
                # copy crossed a rebalance. It comes back when the lease
                # would lapse, to be acked unrun once the job ended, or run
                # if its owner died meanwhile and the lease lapsed.
                wait = self._lease_left(job.message.id, lease)
                logger.info(
                    "job %s (%s) attempt %d is owned by another live worker; the copy waits %.1f s",
                    job.message.id,
                    job.message.task,
                    job.message.retries,
                    wait,
                )
                self._delay(job, time.time() + wait)
                continue
            key = (job.message.id, job.message.retries)
            if key in self._live:
                logger.info(
                    "job %s (%s) attempt %d already in flight here; acking this copy unrun",
                    job.message.id,
                    job.message.task,
                    job.message.retries,
                )
                self.ledger.skipped(job)
                continue
            self._live[key] = job
            self._changed = True  # the snapshot lists the jobs whose leases are renewed
            # Delivered before if this attempt already left a trace (a
            # worker died or lost the partition mid-job); a previous
            # attempt's RETRY does not count.
            job.redelivered = bool(previous) and attempt == str(job.message.retries)
            self.app.middleware.received(job.message)
            if self.held is not None:
                self.held.push(self._queue_of_topic.get(job.delivery.topic, ""), job)
            else:
                self._submit(job)

    def _ended_long_ago(self, jobs: list[Job]) -> dict[Job, str]:
        """Jobs too old for their Redis state to tell, whose durable result
        says they ended (see :mod:`taskqueue.worker.redelivery`)."""
        results = self.ledger.results
        if results is None:
            return {}
        now, ttl = time.time(), self.app.settings.state_ttl
        ended = {}
        for job in jobs:
            if not is_old(job.message, ttl, now):
                continue
            try:
                state = ended_durably(results, job.message)
            except Exception as exc:
                if results.owns_error(exc):
                    raise  # the store is down: the loop holds and asks again
                # A stored document this check cannot read says nothing
                # for sure: the job runs, as it would without the check.
                logger.warning("job %s: durable result unreadable: %s", job.message.id, exc)
                continue
            if state is not None:
                ended[job] = state
        return ended

    # --- store outages ------------------------------------------------------------
    def _store_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a store is down (not that a job is wrong)."""
        return self._store_of(exc) is not None

    def _store_of(self, exc: BaseException) -> str | None:
        if self.app.state.owns_error(exc):
            return self.app.state.service
        results = self.ledger.results
        if results is not None and results.owns_error(exc):
            return results.service
        return None

    def _note_outage(self, exc: Exception) -> None:
        """Start (or go on with) an outage for the store ``exc`` came from."""
        store = self._store_of(exc)
        if store is None:
            raise exc
        self.outage.failed(store, exc)

    def settle_safely(self, force_flush: bool = False) -> bool:
        """:meth:`settle`, with a store outage noted instead of raised."""
        try:
            self.settle(force_flush)
            return True
        except Exception as exc:
            self._note_outage(exc)
            return False

    def _probe(self) -> None:
        """Ask the failing state store whether it answers again (raises if not)."""
        self.app.state.ping()
        self.outage.answered(self.app.state.service)

    def _hold(self) -> None:
        """During an outage: fetch nothing, start nothing, stay in the group."""
        consumer = self.consumer
        assert consumer is not None
        consumer.pause(consumer.assignment())
        # Not started yet: taken back, started again when the store answers
        # (a job that runs now could not be recorded).
        for job in self.jobs:
            if not job.parked and job.future is not None and job.future.cancel():
                job.parked = True
        # Paused, so this returns nothing, but it keeps the membership alive;
        # a record of a partition assigned meanwhile waits with the others.
        self._take(consumer.poll(1, 0.05), time.time())
        self.publish()

    def _unpark(self) -> None:
        parked, self._parked = self._parked, []
        logger.info("starting %d job(s) held during the outage", len(parked))
        for job in parked:
            job.parked = False
            job.future = None
            if not job.released:
                self._submit(job)

    def _decode(self, d: Delivery, now: float) -> Job | None:
        queue_name = self._queue_of_topic.get(d.topic, self.app.settings.default_queue)
        try:
            message = Message.decode(d.value)
        except DecodeError as exc:
            # Refused here, every part the worker will act on checked: a part
            # of the wrong shape found later would raise inside this loop.
            reason = "invalid-envelope" if isinstance(exc, InvalidEnvelope) else "undecodable"
            logger.error(
                "%s message at %s[%d]@%d: %s; dead-lettering",
                reason,
                d.topic,
                d.partition,
                d.offset,
                exc,
            )
            self._dead_letter(d, queue_name, reason, str(exc))
            return None
        job = Job(d, message, received_at=now, generation=self._generation(d))
        if message.task not in self.app.tasks:
            self._unknown_task(job, now)
            return None
        return job

    def _unknown_task(self, job: Job, now: float) -> None:
        """Delay it again (a newer worker may know the task), or, past the
        grace period, fail it: stored FAILURE, errbacks, dead letter."""
        verdict = self.unknown_tasks.decide(job.delivery, job.message.task, now)
        job.delivery = dataclasses.replace(job.delivery, headers=verdict.headers)
        if verdict.eta is not None:
            self._delay(job, verdict.eta)
            return
        error = {
            "exc_type": "NotRegistered",
            "exc_message": f"task {job.message.task!r} is not registered "
            f"on any worker that took this job within {self.unknown_tasks.grace:g} s",
        }
        outcome = Outcome(FAILURE.value, error=error, dead_reason="unknown-task")
        self.ledger.finished(job, outcome)

    def _admitted(self, jobs: list[Job], now: float) -> list[Job]:
        """Ask the policies about the batch; act on their verdicts, keep the rest."""
        if not jobs:
            return jobs
        admissions = [Admission(j.message, Stage.RECEIVED, now) for j in jobs]
        self.app.middleware.admit(self.app, admissions)
        admitted = []
        for job, admission in zip(jobs, admissions, strict=True):
            verdict = admission.verdict
            if verdict is None:
                admitted.append(job)
            elif verdict.kind is VerdictKind.DEFER:
                logger.debug(
                    "job %s (%s) deferred (%s) to %.3f",
                    job.message.id,
                    job.message.task,
                    verdict.reason,
                    verdict.eta,
                )
                self._delay(job, verdict.eta)
            else:
                m = job.message
                logger.info("job %s (%s) refused: %s", m.id, m.task, verdict.error)
                outcome = Outcome(
                    verdict.state, error=verdict.error, started_at=now, finished_at=now
                )
                self.ledger.finished(job, outcome)
        return admitted

    def _delay(self, job: Job, eta: float) -> None:
        """Send a record to a delay tier, due at ``eta``; ack it once Kafka has
        it there. The record is re-encoded only when the eta is not its own."""
        s, d = self.app.settings, job.delivery
        value = d.value or b""
        if eta != job.message.eta:
            value = dataclasses.replace(job.message, eta=eta).encode()
        topic, headers = route(s, d.topic, eta, list(d.headers))
        self.ledger.skipped(job, [Outgoing(topic, value, d.key, headers)])

    def _dead_letter(self, d: Delivery, queue_name: str, reason: str, detail: str) -> None:
        topic = self.app.settings.dead_letter_topic(queue_name)
        out = Outgoing(topic, d.value or b"", d.key, dead_letter_headers(d, reason, detail))
        self.ledger.metrics.dead_lettered(d.topic, _PLACEHOLDER.task)  # task unknown here
        self.ledger.skipped(Job(d, _PLACEHOLDER, generation=self._generation(d)), [out])

    def _generation(self, d: Delivery) -> int:
        assert self.consumer is not None
        return self.consumer.offsets.generation(d.tp)

    def feed(self) -> None:
        """Move held jobs into the pool, by queue weight, a few per thread."""
        held = self.held
        if held is None or self.stopping or self.outage.active:
            return  # at shutdown held jobs stay uncommitted and are redelivered
        while len(held) and self.pool.unfinished < self.pool.size * 2:
            job = held.pop()
            if job is not None and not job.released:
                self._submit(job)

    def _submit(self, job: Job) -> None:
        m, d = job.message, job.delivery
        self.jobs[job] = ActiveJob(
            m.id, m.task, m.retries, d.topic, d.partition, d.offset, job.received_at, m.eta
        )
        self._changed = True
        self.pool.submit(job)

    # --- storing and acking ---------------------------------------------------
    def settle(self, force_flush: bool = False) -> None:
        """Drain pool events; store them; ack what is durable."""
        self.drain_events()
        self.ledger.flush_results(force=force_flush)
        self.app.transport.service()
        self.ledger.confirm()
        self.ledger.write_states()
        consumer = self.consumer
        assert consumer is not None
        for job in self.ledger.ackable():
            key = (job.message.id, job.message.retries)
            if self._live.get(key) is job:
                del self._live[key]
                self._changed = True
            if not job.released:
                consumer.ack(job.delivery, job.generation)

    def drain_events(self) -> None:
        ledger = self.ledger
        self._record_finished()  # what an outage left unrecorded comes first
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            job = event.job
            if event.kind is EventKind.STARTED:
                ledger.started(job)
                continue
            self.jobs.pop(job, None)
            self.pool.unfinished -= 1
            self._changed = True
            if event.outcome is not None:  # DONE or LOST
                self.processed += 1
                self._unrecorded.append(_Unrecorded(job, event.outcome))
                self._record_finished()
            elif job.parked:  # CANCELLED: taken back during an outage
                self._parked.append(job)
            # CANCELLED otherwise: released on revoke; the partition's new owner runs it
        # Published before the states are written: a reader who sees the
        # final state never sees the job still active.
        self.publish()

    def _record_finished(self) -> None:
        """Record finished attempts in order; a store error leaves the
        attempt (and those after it) queued for the next try."""
        while self._unrecorded:
            self._record(self._unrecorded[0])
            self._unrecorded.popleft()

    def _record(self, entry: _Unrecorded) -> None:
        """Hand a finished attempt to the ledger; an error recording it fails
        that job, never the loop (which would die on every redelivery)."""
        job, outcome = entry.job, entry.outcome
        try:
            if entry.reported is None:  # middleware sees an outcome once, retried or not
                entry.reported = self._report(job, outcome)
            self.ledger.finished(job, entry.reported)
            return
        except Exception as exc:
            # A store that is down is not this job's fault: the loop's
            # outage handling owns that, so it propagates.
            if self._store_error(exc):
                raise
            failure = _recording_failed(job, outcome, exc)
        # Follow-ups of the failure itself (errbacks, the chord marked
        # failed) first; if building those fails too, the bare failure.
        for message in (job.message, _bare(job.message)):
            try:
                self.ledger.finished(dataclasses.replace(job, message=message), failure)
                return
            except Exception as exc:
                if self._store_error(exc):
                    raise
                logger.exception("recording the failure of job %s failed", job.message.id)
        detail = (
            f"{failure.error['exc_type']}: {failure.error['exc_message']}" if failure.error else ""
        )
        queue_name = self._queue_of_topic.get(job.delivery.topic, self.app.settings.default_queue)
        self._dead_letter(job.delivery, queue_name, "unrecordable", detail)

    def _report(self, job: Job, outcome: Outcome) -> Outcome:
        """Log how the attempt ended and let middleware see (or replace) it."""
        m = job.message
        if outcome.state == "RETRY":
            logger.info("job %s (%s) retry %d: %s", m.id, m.task, m.retries + 1, outcome.error)
        elif outcome.state != "SUCCESS":
            logger.warning("job %s (%s) %s: %s", m.id, m.task, outcome.state, outcome.error)
        return self.app.middleware.on_outcome(self.app, m, outcome)

    # --- back-pressure ----------------------------------------------------------
    def backpressure(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        assigned = consumer.assignment()
        if self.stopping:
            consumer.pause(assigned)
            return
        # The pool queue holds at most two batches: enough to keep threads
        # busy between polls, little enough to release on revoke. Pause at
        # the high mark, resume below half of it (hysteresis): librdkafka
        # drops prefetched records of a paused partition and fetches them
        # again on resume, so a mark of one batch paused after every batch
        # and measurably halved throughput.
        high = max(self.pool.size * 4, 2 * self.app.settings.consume_batch_size)
        offsets = consumer.offsets
        # Jobs received and not acked yet, finished ones waiting for their
        # result write included: what the worker's memory follows.
        cap = self.app.settings.max_in_flight
        held_jobs = offsets.in_flight()
        if self.pool.unfinished >= high or held_jobs >= cap:
            consumer.pause(assigned)
            return
        half = offsets.max_window // 2
        consumer.pause([tp for tp in assigned if offsets.window(tp) >= offsets.max_window])
        held = self.held
        if held is not None:  # a flooded queue stops fetching; the others go on
            consumer.pause(
                [tp for tp in assigned if held.full(self._queue_of_topic.get(tp[0], ""))]
            )
        if consumer.paused and self.pool.unfinished < high // 2 and held_jobs < cap // 2:
            consumer.resume(
                [
                    tp
                    for tp in consumer.paused
                    if offsets.window(tp) < half
                    and tp[0] not in self.draining
                    and (held is None or held.drained(self._queue_of_topic.get(tp[0], "")))
                ]
            )

    # --- what other threads see ----------------------------------------------------
    def note_change(self) -> None:
        """Something the snapshot shows changed outside the job table (queues)."""
        self._changed = True

    def publish(self) -> None:
        """Replace :attr:`snapshot` if anything it shows changed."""
        if (
            not self._changed
            and self.snapshot.stopping == self.stopping
            and self.snapshot.problem == self.outage.problem
            and self.snapshot.pool_size == self.pool.size
        ):
            return
        self._changed = False
        self.snapshot = LoopSnapshot(
            tuple(self.jobs.values()),
            self.processed,
            self.stopping,
            problem=self.outage.problem,
            problem_since=self.outage.since,
            owned=tuple(j.message.id for j in self._live.values()),
            queues=tuple(self.queues),
            pool_size=self.pool.size,
        )

    def add_rebalance_listener(self, listener: RebalanceListener) -> None:
        """Call ``listener`` on every partition assignment and revocation."""
        self._listeners.append(listener)

    def _tell(self, assigned: bool, tps: list[TopicPartition]) -> None:
        for listener in self._listeners:
            try:
                if assigned:
                    listener.on_assigned(tps)
                else:
                    listener.on_revoked(tps)
            except Exception:
                logger.exception("rebalance listener %r failed", listener)

    # --- rebalancing --------------------------------------------------------------
    def on_assign(self, tps: list[tuple[str, int]]) -> None:
        if (self.stopping or self.outage.active) and self.consumer is not None:
            self.consumer.pause(tps)
        elif self.draining and self.consumer is not None:  # a cancelled queue fetches nothing
            self.consumer.pause([tp for tp in tps if tp[0] in self.draining])
        self._tell(True, tps)

    def on_revoke(self, tps: list[tuple[str, int]]) -> None:
        """Finish in-flight work of revoked partitions (bounded), commit, release the rest."""
        revoked = set(tps)

        def kept(job: Job) -> bool:
            return job.delivery.tp not in revoked

        if self.held is not None:  # not started: the partition's new owner runs them
            self.held.drop(kept)
        # Waiting out an outage, not started: the new owner runs them too.
        self._entering = list(filter(kept, self._entering))
        self._registering = list(filter(kept, self._registering))
        self._parked = list(filter(kept, self._parked))
        # Their new owner runs them: a copy seen here later is not a duplicate.
        dropped = [j for j in self._live.values() if not kept(j)]
        self._live = {k: j for k, j in self._live.items() if kept(j)}
        self._changed = True
        deadline = time.monotonic() + min(self.app.settings.shutdown_grace, 15.0)
        for job in list(self.jobs):
            if job.delivery.tp in revoked and job.future is not None and job.future.cancel():
                pass  # not started: the partition's new owner will run it
        # With a store down nothing can finish: release at once.
        while (
            not self.cold
            and not self.outage.active
            and any(j.delivery.tp in revoked for j in self.jobs)
            and time.monotonic() < deadline
        ):
            self.settle_safely()
            time.sleep(0.002)
        if not self.outage.active:
            self.settle_safely(force_flush=True)
        self.wait_acks(deadline)
        consumer = self.consumer
        if consumer is not None:
            # Once more if refused (a commit mid-rebalance may be): the new
            # owner would only re-read these records, but need not.
            for _ in range(2):
                consumer.commit(asynchronous=False)
                if not any(tp in revoked for tp in consumer.offsets.committable()):
                    break
        for job in self.jobs:
            if job.delivery.tp in revoked:
                job.released = True
                logger.warning(
                    "job %s (%s) still running at revoke of %s[%d]; it may run again",
                    job.message.id,
                    job.message.task,
                    job.delivery.topic,
                    job.delivery.partition,
                )
        self._release_leases([j for j in dropped if not self._running(j)])
        self._tell(False, tps)

    def _lease_left(self, job_id: str, lease: float) -> float:
        """Seconds until another owner's lease on ``job_id`` lapses, unless
        renewed (a little more, never above ``lease``): a copy comes back
        then rather than a whole lease later, so the job of a worker that
        died waits no longer than needed. The lease is on the store's clock,
        so this is an estimate; the store decides when the copy is back."""
        try:
            until = float(self.app.state.read(job_id).get("lease") or 0)
        except ValueError:  # a lease field this store did not write: wait a whole lease
            return lease
        except Exception as exc:
            if not self.app.state.owns_error(exc):
                raise
            return lease
        return min(lease, max(LEASE_RECHECK_MIN, until - time.time() + LEASE_RECHECK_MIN))

    def _running(self, job: Job) -> bool:
        return job in self.jobs and not (job.future is not None and job.future.cancelled())

    def release_unstarted_leases(self) -> None:
        """At shutdown: end the leases of jobs registered here that will not
        run here, so their next owner need not wait for the leases to lapse."""
        self._release_leases([j for j in self._live.values() if not self._running(j)])

    def _release_leases(self, jobs: list[Job]) -> None:
        """Jobs registered here that will not run here: end their owner
        leases, so the partition's next owner runs them at once (best effort:
        a lease also lapses by itself)."""
        if not jobs or not self.app.settings.owner_lease:
            return
        try:
            self.app.state.release_leases([j.message.id for j in jobs], self.name)
        except Exception as exc:
            if not self.app.state.owns_error(exc):
                raise
            logger.warning("owner leases not released (%s); they lapse by themselves", exc)

    def wait_acks(self, deadline: float) -> None:
        while self.ledger.busy and not self.outage.active and time.monotonic() < deadline:
            self.settle_safely(force_flush=True)
            time.sleep(0.002)


@dataclasses.dataclass(slots=True)
class _Unrecorded:
    """A finished attempt on its way into the ledger."""

    job: Job
    outcome: Outcome
    reported: Outcome | None = None
    """The outcome once middleware's ``on_outcome`` has seen (or replaced) it."""


LEASE_RECHECK_MIN = 0.2
"""Seconds a copy waiting on another owner's lease waits at least."""

_PLACEHOLDER = Message(id="-", task="-")
"""Envelope of a record that could not be decoded (its job is only acked)."""


def _recording_failed(job: Job, outcome: Outcome, exc: Exception) -> Outcome:
    m = job.message
    logger.exception(
        "recording the %s of job %s (%s) failed; the job fails", outcome.state, m.id, m.task
    )
    error = {
        "exc_type": type(exc).__name__,
        "exc_message": f"recording the job's {outcome.state} failed: {exc}"[:2000],
    }
    return Outcome(
        "FAILURE",
        error=error,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        dead_reason="unrecordable",
    )


def _bare(message: Message) -> Message:
    """The envelope without what makes follow-ups (callbacks, chord)."""
    headers = {k: v for k, v in message.headers.items() if k != CHORD_HEADER}
    return dataclasses.replace(message, callbacks=(), errbacks=(), headers=headers)
