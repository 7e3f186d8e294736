"""Expiry, time limits, revoke and shared rate limits, on real services."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from taskqueue import State, TaskQueue
from taskqueue.exceptions import TaskFailed, TaskRevokedError

from .conftest import Workers, wait_for
from .policy_app import APP, runs

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def tq_env(tq_env: dict[str, str]) -> dict[str, str]:
    return {**tq_env, "TASKQUEUE_DELAY_TIERS": "1,2"}


def queue_consumed(app: TaskQueue, queue: str = "default") -> bool:
    """Every record of the queue is committed by the workers' group."""
    s = app.settings
    bootstrap = s.broker_url.removeprefix("kafka://")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{s.topic_prefix}workers.{queue}"})
    try:
        parts = [TopicPartition(s.topic(queue), p) for p in range(s.partitions)]
        done = {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    finally:
        c.close()
    return all(done[p] == end for p, end in ends.items() if end > 0) and any(ends.values())


# --- expiry -------------------------------------------------------------------------


def test_expired_jobs_are_revoked_and_never_run(papp: TaskQueue, workers: Workers) -> None:
    record = papp.tasks["p.record"]
    soon = record.apply_async(("soon",), expires=0.5)
    at = record.apply_async(("at",), expires=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5))
    # Expires while it waits in a delay tier.
    waiting = record.apply_async(("waiting",), countdown=3, expires=1)
    fine = record.apply_async(("fine",), expires=600)
    deadline = time.time() + 1.2
    wait_for(lambda: time.time() > deadline, 5)
    workers.start("-A", APP)
    assert fine.get(timeout=60) == "fine"
    for r in (soon, at, waiting):
        with pytest.raises(TaskRevokedError):
            r.get(timeout=60)
        assert r.state == State.REVOKED
        assert r.info == {"exc_type": "Expired", "exc_message": "expired"}
    assert runs(papp, "soon") == runs(papp, "at") == runs(papp, "waiting") == []


# --- time limits --------------------------------------------------------------------


def test_soft_time_limit_is_raised_inside_the_task(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    assert papp.tasks["p.soft"].delay("s").get(timeout=60) == "cleaned up"
    assert len(runs(papp, "s:caught")) == 1


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_hard_time_limit_stops_the_task_and_the_worker_stays_healthy(
    papp: TaskQueue, workers: Workers, pool: str
) -> None:
    workers.start("-A", APP, pool=pool, concurrency=2)
    results = [papp.tasks["p.hard"].delay(f"h{i}") for i in range(2)]
    for r in results:
        with pytest.raises(TaskFailed) as failure:
            r.get(timeout=60)
        assert failure.value.exc_type == "TimeLimitExceeded"
    for i in range(2):
        assert len(runs(papp, f"h{i}")) == 1
        # A hard limit is not an Exception: the task could not swallow it.
        assert runs(papp, f"h{i}:swallowed") == runs(papp, f"h{i}:finished") == []
    # Both slots still work.
    assert [papp.tasks["t.add"].delay(i, 1).get(timeout=60) for i in range(4)] == [1, 2, 3, 4]


# --- revoke --------------------------------------------------------------------------


def test_revoked_job_never_starts_even_when_delayed(papp: TaskQueue, workers: Workers) -> None:
    worker = workers.start("-A", APP)
    record = papp.tasks["p.record"]
    queued = record.apply_async(("queued",))
    delayed = record.apply_async(("delayed",), countdown=3)
    queued_later = papp.AsyncResult(str(uuid.uuid4()))
    # Revoked before it was even sent: the worker acks it unrun.
    assert queued_later.revoke() is True
    record.apply_async(("later",), task_id=queued_later.id)
    assert delayed.revoke() is True
    assert queued.get(timeout=60) == "queued"
    assert queued.revoke() is False  # finished: nothing to revoke
    after = record.apply_async(("after",), countdown=4)
    assert after.get(timeout=60) == "after"  # the delayed one was due earlier
    wait_for(lambda: queue_consumed(papp), 60)
    assert delayed.state == State.REVOKED and queued_later.state == State.REVOKED
    assert runs(papp, "delayed") == runs(papp, "later") == []
    assert "Traceback" not in worker.output()


def test_terminate_stops_a_running_job(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    result = papp.tasks["p.steps"].delay("long", 600, 0.05)
    wait_for(lambda: len(runs(papp, "long")) == 1, 60)
    papp.control.revoke(result.id, terminate=True, reason="test")
    with pytest.raises(TaskRevokedError):
        result.get(timeout=60)
    wait_for(lambda: (papp.result_store.get(result.id) or {}).get("final") is True, 30)
    assert runs(papp, "long:done") == []
    assert papp.tasks["t.add"].delay(1, 2).get(timeout=60) == 3


# --- rate limits -----------------------------------------------------------------------


def test_rate_limit_is_shared_by_two_worker_processes(papp: TaskQueue, workers: Workers) -> None:
    first = workers.start("-A", APP, concurrency=2)
    second = workers.start("-A", APP, concurrency=2)
    for w in (first, second):
        wait_for(lambda w=w: "partitions assigned" in w.output(), 60)
    limited = papp.tasks["p.limited"]  # rate_limit="1/h": one token, then none
    sent = []

    def both_deferred() -> bool:
        return all("rate limit:" in w.output() for w in (first, second))

    # Jobs spread over both workers' partitions; keep sending until each
    # worker has had to defer at least one.
    for i in range(40):
        sent.append(limited.delay(f"j{i}"))
        if i >= 3 and both_deferred():
            break
        time.sleep(0.2)
    wait_for(both_deferred, 60)
    wait_for(lambda: len(runs(papp, "limited")) >= 1, 60)
    assert len(runs(papp, "limited")) == 1  # one token for two workers
    papp.control.rate_limit("p.limited", "1000/s")
    assert sorted(r.get(timeout=90) for r in sent) == sorted(f"j{i}" for i in range(len(sent)))
    assert len(runs(papp, "limited")) == len(sent)
