"""Jobs through GraphQL (Django's test client) run by a real `manage.py worker`
on real Kafka, Redis and Mongo, against the provider sandbox."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from jobs.models import Job
from taskqueue import TaskQueue

from .conftest import GQL, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SUBMIT = """
mutation($input: SubmitJobInput!) {
  submitJob(input: $input) { job { id state queuedAt } created errors { field rule message } }
}"""
JOB = """
query($id: ID!) {
  job(id: $id) {
    id state attempts error worker result traceback createdAt startedAt finishedAt
    progress { current total percent message }
    attemptHistory { attempt state worker }
    retryOf { id }
  }
}"""


def submit(gql: GQL, provider: str, params: dict[str, Any], **extra: Any) -> str:
    body = gql(SUBMIT, {"input": {"provider": provider, "params": params, **extra}})
    payload = body["data"]["submitJob"]
    assert payload["errors"] == [], payload
    assert payload["job"]["queuedAt"], "Kafka acknowledged it"
    return payload["job"]["id"]


def final_row(job_id: str, log: Path) -> Job:
    return wait_for(
        lambda: Job.objects.filter(pk=job_id, finished_at__isnull=False).first(),
        90,
        f"job {job_id} to finish",
        log,
    )


def test_submitted_job_runs_to_success_and_shows_its_result(
    gql: GQL, client: Any, alice: Any, worker: Path
) -> None:
    client.force_login(alice)
    job_id = submit(gql, "quote", {"count": 3, "page_size": 1}, priority="HIGH")
    row = final_row(job_id, worker)
    assert row.state == "SUCCESS" and row.attempts == 1 and row.worker
    assert row.started_at and row.finished_at >= row.started_at
    assert (row.progress_current, row.progress_total) == (3, 3), "last progress kept on the row"
    job = gql(JOB, {"id": job_id})["data"]["job"]
    assert job["state"] == "SUCCESS" and job["error"] is None and job["traceback"] is None
    assert len(job["result"]["quotes"]) == 3
    assert job["progress"]["percent"] == 100.0
    assert [a["state"] for a in job["attemptHistory"]] == ["SUCCESS"]


def test_failed_job_is_retried_as_a_new_linked_job(
    gql: GQL, client: Any, alice: Any, worker: Path
) -> None:
    client.force_login(alice)
    job_id = submit(gql, "github", {"repo": "sandbox/not-found"})
    assert final_row(job_id, worker).state == "FAILURE"
    job = gql(JOB, {"id": job_id})["data"]["job"]
    assert "not found" in job["error"].lower() and job["traceback"]
    retry = """mutation($id: ID!) {
      retryJob(id: $id) { job { id retryOf { id } } created errors { rule } } }"""
    first = gql(retry, {"id": job_id})["data"]["retryJob"]
    assert first["created"] and first["job"]["retryOf"]["id"] == job_id
    again = gql(retry, {"id": job_id})["data"]["retryJob"]
    assert not again["created"] and again["job"]["id"] == first["job"]["id"], (
        "a double click retries once"
    )
    assert final_row(first["job"]["id"], worker).state == "FAILURE"
    refused = gql(retry, {"id": first["job"]["id"]})["data"]["retryJob"]
    assert refused["errors"] == [] and refused["created"]
    success = submit(gql, "quote", {"count": 1})
    final_row(success, worker)
    assert gql(retry, {"id": success})["data"]["retryJob"]["errors"] == [{"rule": "state"}]


def test_cancelled_job_never_runs(
    gql: GQL, client: Any, alice: Any, jobs_app: TaskQueue, request: Any
) -> None:
    client.force_login(alice)
    job_id = submit(gql, "quote", {"count": 2})
    cancel = "mutation($id: ID!) { cancelJob(id: $id) { cancelled job { state } errors { rule } } }"
    payload = gql(cancel, {"id": job_id})["data"]["cancelJob"]
    assert payload == {"cancelled": True, "job": {"state": "REVOKED"}, "errors": []}
    log = request.getfixturevalue("worker")  # the worker starts only now
    wait_for(
        lambda: f"job {job_id}" in log.read_text() and "already REVOKED" in log.read_text(),
        60,
        "the worker to skip the revoked job",
        log,
    )
    row = Job.objects.get(pk=job_id)
    assert row.state == "REVOKED" and row.started_at is None and row.attempts == 0
    assert gql(cancel, {"id": job_id})["data"]["cancelJob"]["cancelled"] is False


def test_cancel_wins_over_a_late_success(
    gql: GQL, client: Any, alice: Any, worker: Path, jobs_app: TaskQueue
) -> None:
    client.force_login(alice)
    job_id = submit(gql, "github", {"repo": f"sandbox/slow-{uuid.uuid4().hex[:6]}"})
    wait_for(lambda: Job.objects.filter(pk=job_id, state="STARTED").exists(), 60, "start", worker)
    cancel = "mutation($id: ID!) { cancelJob(id: $id) { cancelled } }"
    assert gql(cancel, {"id": job_id})["data"]["cancelJob"]["cancelled"]
    # Without the framework's terminate the attempt runs on; once the worker
    # has processed it, its SUCCESS must not have replaced REVOKED anywhere.
    wait_for(
        lambda: sum(int(w.get("processed", 0)) for w in jobs_app.state_backend.workers().values()),
        60,
        "the worker to finish the attempt",
        worker,
    )
    row = Job.objects.get(pk=job_id)
    assert row.state == "REVOKED" and row.error.startswith("cancelled by alice")
    assert gql(JOB, {"id": job_id})["data"]["job"]["state"] == "REVOKED"
    assert jobs_app.AsyncResult(job_id).state == "REVOKED"


def test_bulk_submission_runs_every_job(gql: GQL, client: Any, alice: Any, worker: Path) -> None:
    client.force_login(alice)
    body = gql(
        """mutation($input: SubmitJobsInput!) {
             submitJobs(input: $input) { jobs { id queuedAt } errors { field } } }""",
        {"input": {"jobs": [{"provider": "quote", "params": {"count": n}} for n in (1, 2, 3, 4)]}},
    )
    payload = body["data"]["submitJobs"]
    assert payload["errors"] == [] and len(payload["jobs"]) == 4
    assert all(j["queuedAt"] for j in payload["jobs"])
    for job in payload["jobs"]:
        assert final_row(job["id"], worker).state == "SUCCESS"


def test_idempotency_key_returns_the_first_job(
    gql: GQL, client: Any, alice: Any, bob: Any, jobs_app: TaskQueue
) -> None:
    client.force_login(alice)
    first = gql(SUBMIT, {"input": {"provider": "quote", "params": {}, "idempotencyKey": "k-1"}})
    again = gql(
        SUBMIT, {"input": {"provider": "quote", "params": {"count": 3}, "idempotencyKey": "k-1"}}
    )
    a, b = first["data"]["submitJob"], again["data"]["submitJob"]
    assert a["created"] and not b["created"] and a["job"]["id"] == b["job"]["id"]
    client.force_login(bob)
    other = gql(SUBMIT, {"input": {"provider": "quote", "params": {}, "idempotencyKey": "k-1"}})
    assert other["data"]["submitJob"]["created"], "keys are per person"
    assert Job.objects.count() == 2
