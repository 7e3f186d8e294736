"""What a publish promises (issue 13, item 9), on the in-memory twins (fast
tier) and on Kafka, Redis and MongoDB: an unconfirmed publish reports
"outcome unknown" and sending it again with the same id is safe; a chord
that counts on an unconfirmed member fails instead of hanging; jobs
published in a ``bulk()`` block whose body raised are sent and reported; an
idempotency key names one job and is bound to it only once Kafka
acknowledged the publish."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from taskqueue import TaskQueue, chord
from taskqueue.exceptions import PublishError
from taskqueue.policies import idempotency
from taskqueue.transport.memory import MemoryTransport

from .conftest import RunningWorker, state_of
from .tasks import runs

pytestmark = pytest.mark.timeout(120)

MEMORY_ONLY = pytest.mark.parametrize("stack", [pytest.param("memory", marks=pytest.mark.fast)])
"""Only the twin can lose an acknowledgement on purpose (``lose_acks``)."""


def lose_acks(app: TaskQueue, times: int = 1) -> None:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    transport.lose_acks(times)


@MEMORY_ONLY
def test_an_unconfirmed_publish_reports_outcome_unknown_and_its_job_runs_once(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]
    lose_acks(rapp)
    with pytest.raises(PublishError, match="outcome unknown") as raised:
        add.apply_async((3, 4), task_id="lost-ack")
    assert raised.value.job_ids == ["lost-ack"]
    assert raised.value.outcome_unknown
    again = add.apply_async((3, 4), task_id="lost-ack")  # the documented retry
    with worker():
        assert again.get(timeout=30) == 7
        assert add.delay(0, 0).get(timeout=30) == 0  # queued behind both copies
    assert [r[1] for r in runs(rapp, "rules.add")] == [(3, 4), (0, 0)]


def test_a_job_sent_twice_under_one_id_runs_once(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]
    first = add.apply_async((5, 6), task_id="sent-twice")
    add.apply_async((5, 6), task_id="sent-twice")
    with worker():
        assert first.get(timeout=30) == 11
        assert add.delay(0, 0).get(timeout=30) == 0
    assert [r[1] for r in runs(rapp, "rules.add")] == [(5, 6), (0, 0)]


@pytest.mark.rule_settings(publish_timeout=2)
def test_a_chord_whose_member_was_not_accepted_fails_instead_of_hanging(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add, total = rapp.tasks["rules.add"], rapp.tasks["rules.total"]
    callback = f"{unique_name}-callback"
    header = [add.s(1, 1), add.s(2, 2).set(queue="no-such-queue")]
    with pytest.raises(PublishError):
        chord(header, total.s().clone(task_id=callback)).apply_async()
    assert state_of(rapp, callback) == "FAILURE"
    assert "was not confirmed by Kafka" in str(rapp.AsyncResult(callback).info)
    with worker():
        assert add.delay(0, 0).get(timeout=30) == 0  # after the accepted member
    assert (1, 1) in [r[1] for r in runs(rapp, "rules.add")]
    assert not runs(rapp, "rules.total"), "the callback never runs"


@MEMORY_ONLY
def test_a_chord_whose_member_is_unconfirmed_fails_even_if_the_member_was_stored(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add, total = rapp.tasks["rules.add"], rapp.tasks["rules.total"]
    callback = f"{unique_name}-callback"
    lose_acks(rapp)  # the first member is stored, its acknowledgement lost
    with pytest.raises(PublishError, match="outcome unknown"):
        chord([add.s(1, 1), add.s(2, 2)], total.s().clone(task_id=callback)).apply_async()
    with worker():
        assert add.delay(0, 0).get(timeout=30) == 0  # both members ran by now
    assert sorted(r[1] for r in runs(rapp, "rules.add")) == [(0, 0), (1, 1), (2, 2)]
    assert state_of(rapp, callback) == "FAILURE"
    assert not runs(rapp, "rules.total"), "its callback met the FAILURE and was not run"


def test_jobs_published_before_a_bulk_body_raised_are_sent_and_reported(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]
    with pytest.raises(ValueError, match="the caller's own error") as raised, rapp.bulk():
        sent = add.delay(20, 22)
        raise ValueError("the caller's own error")
    notes = " ".join(getattr(raised.value, "__notes__", []))
    assert "1 job(s) published in the bulk() block before this error were sent" in notes
    assert sent.id in notes
    with worker():
        assert sent.get(timeout=30) == 42


def test_an_idempotency_key_names_one_job(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add = rapp.tasks["rules.add"]
    key = f"{unique_name}-order-1"
    first = add.apply_async((1, 2), idempotency_key=key)
    second = add.apply_async((1, 2), idempotency_key=key)
    assert first.id == second.id == idempotency.job_id_for(key)
    with worker():
        assert second.get(timeout=30) == 3
        assert add.delay(0, 0).get(timeout=30) == 0
    assert [r[1] for r in runs(rapp, "rules.add")] == [(1, 2), (0, 0)]


def test_a_key_claimed_by_a_submitter_that_died_before_publishing_still_gets_its_job(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add = rapp.tasks["rules.add"]
    key = f"{unique_name}-order-2"
    # The dead submitter claimed the key (pending) and never published.
    assert idempotency.claim(rapp, key, idempotency.job_id_for(key)) is None
    result = add.apply_async((2, 2), idempotency_key=key)
    with worker():
        assert result.get(timeout=30) == 4


@MEMORY_ONLY
def test_an_idempotent_submission_retried_after_a_lost_ack_is_the_same_job(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], unique_name: str
) -> None:
    add = rapp.tasks["rules.add"]
    key = f"{unique_name}-order-3"
    lose_acks(rapp)
    with pytest.raises(PublishError, match="outcome unknown"):
        add.apply_async((4, 4), idempotency_key=key)
    retried = add.apply_async((4, 4), idempotency_key=key)
    assert retried.id == idempotency.job_id_for(key)
    with worker():
        assert retried.get(timeout=30) == 8
        assert add.delay(0, 0).get(timeout=30) == 0
    assert [r[1] for r in runs(rapp, "rules.add")] == [(4, 4), (0, 0)]
