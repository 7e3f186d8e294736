"""Worker events move Job rows in order, once, whatever order they arrive in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jobs.lifecycle import JobLifecycle
from jobs.models import Job
from taskqueue import Message

pytestmark = pytest.mark.django_db(transaction=True)  # the writer thread has its own connection


def _message(job: Job, retries: int = 0) -> Message:
    return Message(id=str(job.pk), task="providers.quote", retries=retries)


@pytest.fixture
def job(alice: Any) -> Job:
    return Job.objects.create(owner=alice, provider="quote")


def test_events_in_order_end_in_success(job: Job) -> None:
    hooks = JobLifecycle()
    m = _message(job)
    hooks.received(m)
    hooks.started(m)
    hooks.succeeded(m, {"ok": True}, 0.1)
    assert hooks.writer.flush()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.result_ref) == ("SUCCESS", 1, str(job.pk))
    assert job.started_at and job.finished_at and job.worker


def test_late_and_repeated_events_never_regress_a_final_state(job: Job) -> None:
    hooks = JobLifecycle()
    m = _message(job)
    hooks.succeeded(m, None, 0.1)
    hooks.started(m)  # late
    hooks.received(m)  # redelivered
    hooks.failed(m, {"exc_type": "X", "exc_message": "late"})
    assert hooks.writer.flush()
    job.refresh_from_db()
    assert job.state == "SUCCESS" and job.error == ""


def test_older_attempt_never_overwrites_a_newer_one(job: Job) -> None:
    hooks = JobLifecycle()
    first, second = _message(job, 0), _message(job, 1)
    hooks.started(first)
    hooks.retried(first, {"exc_type": "Upstream", "exc_message": "503"}, 1.0)
    hooks.received(second)
    hooks.started(first)  # a late event of attempt 1
    assert hooks.writer.flush()
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("RECEIVED", 2)
    assert job.error == "Upstream: 503", "the last error stays visible during the next attempt"
    hooks.failed(second, {"exc_type": "Upstream", "exc_message": "503 again"})
    assert hooks.writer.flush()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error) == ("FAILURE", 2, "Upstream: 503 again")


def test_events_of_other_tasks_are_ignored(job: Job) -> None:
    hooks = JobLifecycle()
    hooks.received(Message(id="not-a-uuid", task="other"))
    hooks.received(Message(id=str(uuid.uuid4()), task="other"))
    assert hooks.writer.flush()
    job.refresh_from_db()
    assert job.state == "PENDING"


def test_retry_ends_its_attempt(job: Job) -> None:
    """A copy of an attempt that ended in RETRY moves nothing: the row waits
    for the next attempt, as the state store does."""
    hooks = JobLifecycle()
    first = _message(job, 0)
    hooks.retried(first, {"exc_type": "Upstream", "exc_message": "503"}, 1.0)
    hooks.started(first)  # a redelivered copy of the same attempt
    hooks.succeeded(first, {"ok": True}, 0.1)
    assert hooks.writer.flush()
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("RETRY", 1)
