"""Delivery rules, on the in-memory twins (fast tier) and on the real
services, with one body per rule (see conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from taskqueue import Message, TaskQueue, chord
from taskqueue.beat import Beat
from taskqueue.delays import EARLY_TOLERANCE, tier_topics
from taskqueue.stores.state import StateUpdate

from .conftest import RunningWorker, read_topic, state_of, wait_for
from .tasks import GATES, runs

pytestmark = pytest.mark.timeout(120)


def header(record: object, name: str) -> str:
    return dict(record.headers).get(name, b"").decode()  # type: ignore[attr-defined]


def test_a_job_runs_once_and_its_result_is_stored(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker():
        result = rapp.tasks["rules.add"].delay(2, 3)
        assert result.get(timeout=30) == 5
    assert [r[:3] for r in runs(rapp, "rules.add")] == [("rules.add", (2, 3), 0)]
    assert state_of(rapp, result.id) == "SUCCESS"


def test_a_slow_job_holds_back_its_partition_and_only_unfinished_work_runs_again(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    """Commit order and the redelivery skip: a job that finished after a
    slower one (same partition) is not committed past it; after the worker
    stops with the slow job unfinished, the next worker runs the slow job
    again and acks the finished one without running it."""
    gate = f"{unique_name}-gate"
    with worker(concurrency=2):
        slow = rapp.tasks["rules.hold"].delay(gate)
        wait_for(lambda: runs(rapp, "rules.hold"), what="the slow job to start")
        fast = rapp.tasks["rules.add"].delay(1, 1)
        assert fast.get(timeout=30) == 2
        # Leaving the block stops the worker; the slow job outlives the
        # grace period, so the stop is cold and its offset stays uncommitted.
    assert state_of(rapp, slow.id) == "STARTED"
    GATES[gate].set()
    with worker(concurrency=2):
        assert slow.get(timeout=30) == gate
        time.sleep(0.5)  # give a wrongly redelivered add time to run
    assert len(runs(rapp, "rules.hold")) == 2, "the unfinished job runs again"
    assert len(runs(rapp, "rules.add")) == 1, "the finished job is not run again"


def test_delays_hop_through_the_tiers_and_never_run_early(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker():
        sent = time.time()
        result = rapp.tasks["rules.add"].apply_async((4, 5), countdown=1.5)
        assert result.get(timeout=30) == 9
    [run] = runs(rapp, "rules.add")
    # Never before its countdown, but for the documented tolerance: a record
    # that close to its due time runs instead of hopping once more.
    assert run[3] >= sent + 1.5 - EARLY_TOLERANCE, "ran before its countdown"
    # 1.5 s: the largest tier not above it (1 s), then the 0.2 s tier.
    one, fifth = (
        t for t in tier_topics(rapp.settings) if t.endswith("delay.1s") or t.endswith("200ms")
    )
    for topic in (one, fifth):
        hops = [r for r in read_topic(rapp, topic, 1, timeout=10) if r.key == result.id.encode()]
        assert hops, f"no hop through {topic}"


def test_retries_then_failure_and_a_dead_letter(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker():
        result = rapp.tasks["rules.flaky"].delay("x")
        wait_for(lambda: state_of(rapp, result.id) == "FAILURE", what="FAILURE")
    assert [r[2] for r in runs(rapp, "rules.flaky")] == [0, 1, 2]
    [dead] = read_topic(rapp, rapp.settings.dead_letter_topic("default"), 1)
    assert dead.key == result.id.encode()
    assert header(dead, "tq-dead-reason") == "failed"
    assert header(dead, "tq-dead-attempts") == "3"
    assert "x failed" in header(dead, "tq-dead-error")


def test_a_chord_callback_runs_once_with_every_member_result(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add, total = rapp.tasks["rules.add"], rapp.tasks["rules.total"]
    with worker():
        result = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], total.s()).apply_async()
        assert result.get(timeout=30) == 12
    # Every record again, to a new consumer group: members and callback are
    # final, so nothing runs twice and the callback is not published again.
    with worker(group=f"{unique_name}-again"):
        time.sleep(1.5)
    assert len(runs(rapp, "rules.add")) == 3
    assert [r[1] for r in runs(rapp, "rules.total")] == [((2, 4, 6),)]


@pytest.mark.parametrize("stack", ["real"])  # the memory twin has one member per group
@pytest.mark.rule_settings(partitions=2)
def test_workers_with_different_queue_lists_share_a_queues_jobs_once(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    rapp.declare_topics(["high"])
    add = rapp.tasks["rules.add"]
    with (
        worker(queues=["high"], name="w-high"),
        worker(queues=["high", "default"], name="w-both"),
    ):
        results = [add.apply_async((i, 0), queue="high") for i in range(20)]
        assert [r.get(timeout=30) for r in results] == list(range(20))
        time.sleep(1.0)  # a second group, as before, would run each job again by now
    assert sorted(r[1][0] for r in runs(rapp, "rules.add")) == list(range(20))


def test_one_beat_leads_and_each_tick_fires_once(rapp: TaskQueue) -> None:
    rapp.beat_schedule = {"every": {"task": "rules.add", "schedule": 60.0, "args": (1, 2)}}
    a, b = Beat(rapp, name="a"), Beat(rapp, name="b")
    assert [a._lead(), b._lead()] == [True, False]
    now = time.time()
    fired = a.tick(now) + b.tick(now) + a.tick(now)
    # One tick of each entry: "every" and the built-in daily result cleanup.
    assert [e.name for e in a.entries()] == ["every", "taskqueue.backend_cleanup"]
    assert len(fired) == 2
    assert all(state_of(rapp, f) == "PENDING" for f in fired)  # queued, not run: no worker


def test_a_revoked_job_never_runs_even_from_a_delay_tier(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker():
        waiting = rapp.tasks["rules.add"].apply_async((7, 7), countdown=0.6)
        assert waiting.revoke()
        control = rapp.tasks["rules.add"].apply_async((8, 8), countdown=0.6)
        assert control.get(timeout=30) == 16
    assert state_of(rapp, waiting.id) == "REVOKED"
    assert [r[1] for r in runs(rapp, "rules.add")] == [(8, 8)]


def test_an_expired_job_never_runs(rapp: TaskQueue, worker: Callable[..., RunningWorker]) -> None:
    with worker():
        late = rapp.tasks["rules.add"].apply_async((1, 2), countdown=0.6, expires=0.3)
        wait_for(lambda: state_of(rapp, late.id) == "REVOKED", what="the expired job to end")
    assert late.info == {"exc_type": "Expired", "exc_message": "expired"}
    assert runs(rapp, "rules.add") == []


def test_a_job_without_a_rate_token_waits_in_the_tiers_until_the_limit_is_lifted(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]  # declares no limit: the override alone applies
    assert rapp.control.rate_limit("rules.add", "1/h") == ("1/h", "")
    with worker():
        assert add.delay(1, 1).get(timeout=30) == 2
        second = add.delay(2, 2)
        time.sleep(1.5)  # a few rounds through the delay tiers
        assert state_of(rapp, second.id) == "PENDING"
        assert rapp.control.rate_limit("rules.add", "") == ("", "1/h")
        assert second.get(timeout=30) == 4


def test_a_body_past_its_time_limit_fails_and_the_worker_goes_on(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker():
        stuck = rapp.tasks["rules.sleepy"].delay(30)
        wait_for(lambda: state_of(rapp, stuck.id) == "FAILURE", what="the time limit")
        assert rapp.tasks["rules.add"].delay(3, 4).get(timeout=30) == 7
    assert stuck.info["exc_type"] == "TimeLimitExceeded"


def test_a_hung_job_without_a_limit_stops_at_the_default_deadline(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """``task_time_limit`` (Celery's setting) bounds every body, so one hung
    job cannot hold its partition's commit point forever."""
    rapp.settings = rapp.settings.replace(task_time_limit=0.5)
    with worker():
        hung = rapp.tasks["rules.spin"].delay(60)
        wait_for(lambda: state_of(rapp, hung.id) == "FAILURE", what="the default deadline")
        assert rapp.tasks["rules.add"].delay(1, 2).get(timeout=30) == 3
    assert hung.info["exc_type"] == "TimeLimitExceeded"


def test_a_second_copy_of_an_attempt_in_flight_is_acked_without_running(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """Two records of one job (a producer's retry, a republished follow-up)
    reach the worker while the first copy runs: the body runs once, and
    both records are acked."""
    hold = rapp.tasks["rules.hold"]
    gate = f"copies-{rapp.settings.key_prefix}"
    with worker() as w:
        first = hold.apply_async((gate,), task_id=f"{gate}-job")
        wait_for(lambda: runs(rapp, "rules.hold"), what="the first copy to start")
        hold.apply_async((gate,), task_id=first.id)
        loop = w.worker.loop
        assert loop is not None
        wait_for(
            lambda: loop.consumer is not None and loop.consumer.offsets.in_flight() == 1,
            what="the second copy to be acked while the first runs",
        )
        GATES[gate].set()
        assert first.get(timeout=30) == gate
        wait_for(lambda: loop.consumer.offsets.in_flight() == 0, what="both records acked")
    assert len(runs(rapp, "rules.hold")) == 1


def test_a_job_older_than_its_state_runs_only_if_its_durable_result_says_it_never_ended(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """Redis state expires after ``state_ttl``; a copy that waited longer
    meets no state there, and the durable result decides instead."""
    long_ago = time.time() - 2 * rapp.settings.state_ttl
    ended, pending = (f"{rapp.settings.key_prefix}-{n}" for n in ("ended", "pending"))
    rapp.result_store.mark_final(ended, "SUCCESS", 0, None)
    for job_id, x in ((ended, 1), (pending, 2)):
        rapp.publish(Message(id=job_id, task="rules.add", args=(x, 10), sent_at=long_ago))
    with worker() as w:
        assert rapp.AsyncResult(pending).get(timeout=30) == 12
        loop = w.worker.loop
        assert loop is not None and loop.consumer is not None
        wait_for(lambda: loop.consumer.offsets.in_flight() == 0, what="both records acked")
    assert [r[1] for r in runs(rapp, "rules.add")] == [(2, 10)], "the ended job never ran again"
    assert rapp.state.read(ended) == {}, "no RECEIVED written over the ended job"


@pytest.mark.rule_settings(unknown_task_grace=10)
def test_a_job_of_an_unknown_task_waits_for_a_worker_that_knows_it(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], caplog: pytest.LogCaptureFixture
) -> None:
    """A rolling deploy: a newer version sent a task this worker does not
    know yet. Its job comes back through the delay tiers until it does."""
    name = f"rules.later.{rapp.settings.key_prefix}"
    with worker():
        result = rapp.send_task(name, (4,))
        wait_for(
            lambda: f"task {name!r} is not registered here" in caplog.text,
            what="the job to be delayed, not failed",
        )

        @rapp.task(name=name)
        def later(x: int) -> int:  # what the upgraded worker knows
            return x * 10

        assert result.get(timeout=60) == 40


@pytest.mark.rule_settings(unknown_task_grace=10)
def test_a_job_of_a_task_unknown_past_the_grace_period_fails_and_is_dead_lettered(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    job_id = f"{rapp.settings.key_prefix}-unknown"
    record = Message(id=job_id, task="rules.never", sent_at=time.time())
    first_seen = repr(time.time() - 11).encode()
    topic = rapp.settings.topic("default")
    handle = rapp.transport.send(
        topic, record.encode(), job_id.encode(), [("tq-unknown-since", first_seen)]
    )
    rapp.transport.wait([handle], 30)
    with worker():
        wait_for(lambda: state_of(rapp, job_id) == "FAILURE", what="the job to fail")
        dead = read_topic(rapp, rapp.settings.dead_letter_topic("default"), 1)
    assert header(dead[0], "tq-dead-reason") == "unknown-task"
    error = rapp.AsyncResult(job_id).info
    assert "NotRegistered" in str(error) and "rules.never" in str(error)


def test_a_chord_with_a_revoked_member_fails_instead_of_hanging(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add, total = rapp.tasks["rules.add"], rapp.tasks["rules.total"]
    revoked = f"{unique_name}-revoked-member"
    header = [add.s(1, 1), add.s(2, 2).clone(task_id=revoked)]
    assert rapp.AsyncResult(revoked).revoke()  # before it ever runs
    result = chord(header, total.s()).apply_async()
    with worker():
        wait_for(lambda: state_of(rapp, result.id) == "FAILURE", what="the chord to fail")
    error = rapp.AsyncResult(result.id).info
    assert "ChordError" in str(error) and f"member {revoked} was revoked" in str(error)
    assert not runs(rapp, "rules.total"), "the callback never runs"


@pytest.mark.rule_settings(results_enabled=False, state_ttl=2, revoke_ttl=2)
def test_a_revoke_outlives_a_job_due_after_the_revocation_and_state_would_expire(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    # No result store: the durable fallback cannot hide a revocation that expired.
    add = rapp.tasks["rules.add"]
    late = add.apply_async((40, 2), countdown=5)
    assert late.revoke()
    with worker():
        read_topic(rapp, rapp.settings.topic("default"), 1)  # it left the delay tiers
        # Queued behind it on the one partition: once this has run, so has the check.
        assert add.delay(1, 1).get(timeout=30) == 2
    assert [r[1] for r in runs(rapp, "rules.add")] == [(1, 1)]
    assert state_of(rapp, late.id) == "REVOKED"


def test_a_job_revoked_while_running_sends_no_follow_ups_and_fails_its_chord(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add, hold, total = rapp.tasks["rules.add"], rapp.tasks["rules.hold"], rapp.tasks["rules.total"]
    linked, member = f"{unique_name}-linked", f"{unique_name}-member"
    with worker():
        job = hold.apply_async((linked,), link=add.si(5, 5))
        held = hold.s(member).clone(task_id=member)
        result = chord([add.s(1, 1), held], total.s()).apply_async()
        wait_for(lambda: len(runs(rapp, "rules.hold")) == 2, what="both bodies to start")
        assert job.revoke()  # no terminate: the bodies go on
        assert rapp.AsyncResult(member).revoke()
        # The worker learns of revokes through the feed; a body that ends
        # before the notice arrives counts as finished (documented).
        copy = rapp.running_revocations
        assert copy is not None
        wait_for(lambda: copy.is_revoked(job.id) and copy.is_revoked(member), what="the notices")
        GATES[linked].set()
        GATES[member].set()
        wait_for(lambda: state_of(rapp, result.id) == "FAILURE", what="the chord to fail")
        assert add.delay(2, 2).get(timeout=30) == 4  # after the link had its chance to run
    assert state_of(rapp, job.id) == "REVOKED"
    assert sorted(r[1] for r in runs(rapp, "rules.add")) == [(1, 1), (2, 2)], "no link ran"
    assert not runs(rapp, "rules.total")
    assert "was revoked" in str(rapp.AsyncResult(result.id).info)


@pytest.mark.rule_settings(owner_lease=1.5)
def test_a_copy_reaching_another_worker_while_its_job_runs_waits_and_never_runs_twice(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    hold = rapp.tasks["rules.hold"]
    gate = f"{unique_name}-leased"
    with worker(name="w-owner"):
        job = hold.delay(gate)
        wait_for(lambda: runs(rapp, "rules.hold"), what="the first run")
        # A second group reads every record again: the copy a rebalance
        # hands to a new owner while the first run goes on.
        with worker(group=f"{unique_name}-other", name="w-other"):
            time.sleep(3.0)  # two lease lengths: renewed by the owner, so the copy waits
            assert len(runs(rapp, "rules.hold")) == 1
            GATES[gate].set()
            assert job.get(timeout=30) == gate
            time.sleep(2.5)  # the waiting copy comes back, finds the job ended
    assert len(runs(rapp, "rules.hold")) == 1


@pytest.mark.rule_settings(owner_lease=1)
def test_a_copy_runs_once_its_dead_owners_lease_lapses(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]
    # A worker took the job and died: its lease is never renewed.
    taken = StateUpdate("orphan", "RECEIVED", 0, task="rules.add", worker="w-dead")
    rapp.state.write_batch([taken], lease=1)
    result = add.apply_async((8, 8), task_id="orphan")
    with worker():
        assert result.get(timeout=30) == 16
    assert [r[1] for r in runs(rapp, "rules.add")] == [(8, 8)]
