"""Per-person quotas on submissions (issue 17, item 4), on the real services:
the per-minute window in the real Redis (shared by every web process, shown
with a second process), the unfinished-jobs limit in the test database, and
submissions published to the real Kafka.

The minute is picked by ``jobs.api.quotas.clock``; tests in one process pin
it, so none of them races the turn of a minute.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from jobs.api import quotas
from jobs.models import ApiToken, Job
from taskqueue import TaskQueue
from taskqueue.states import State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SUBMIT = """mutation($input: SubmitJobInput!) {
  submitJob(input: $input) { job { id } errors { field rule } } }"""
SUBMIT_MANY = """mutation($input: SubmitJobsInput!) {
  submitJobs(input: $input) { jobs { id } errors { field rule } } }"""
ONE = {"input": {"provider": "quote", "params": {"count": 1}}}

MINUTE_START = 1_900_000_020.0  # a whole minute (divisible by 60)


def many(n: int) -> dict[str, Any]:
    return {"input": {"jobs": [{"provider": "quote", "params": {"count": 1}}] * n}}


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The quota clock, 15 s into a minute; tests move it by assigning ``[0]``."""
    now = [MINUTE_START + 15]
    monkeypatch.setattr(quotas, "clock", lambda: now[0])
    return now


def quota_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    assert errors[0]["extensions"]["code"] == "QUOTA_EXCEEDED", body
    return errors[0]


def test_submissions_over_the_per_minute_limit_are_refused_naming_it(
    gql: Any, client: Any, alice: Any, jobs_app: TaskQueue, settings: Any, pinned_clock: list[float]
) -> None:
    settings.JOBS_SUBMISSIONS_PER_MINUTE = 3
    client.force_login(alice)
    for _ in range(3):
        body = gql(SUBMIT, ONE)
        assert body["data"]["submitJob"]["job"], body
    error = quota_error(gql(SUBMIT, ONE))
    assert "JOBS_SUBMISSIONS_PER_MINUTE" in error["message"] and "retry in 45 s" in error["message"]
    ext = error["extensions"]
    assert (ext["quota"], ext["limit"], ext["retryAfter"]) == ("JOBS_SUBMISSIONS_PER_MINUTE", 3, 45)
    assert ext["retryAt"]
    assert Job.objects.count() == 3, "a refused submission creates nothing"

    pinned_clock[0] = MINUTE_START + 60  # the next minute: a fresh window
    assert gql(SUBMIT, ONE)["data"]["submitJob"]["job"]


def test_a_bulk_counts_each_job_and_a_refused_one_takes_nothing(
    gql: Any, client: Any, alice: Any, jobs_app: TaskQueue, settings: Any, pinned_clock: list[float]
) -> None:
    settings.JOBS_SUBMISSIONS_PER_MINUTE = 5
    client.force_login(alice)
    assert len(gql(SUBMIT_MANY, many(4))["data"]["submitJobs"]["jobs"]) == 4
    error = quota_error(gql(SUBMIT_MANY, many(2)))
    assert "4 of your 5" in error["message"]
    # The refused bulk of 2 took nothing: the fifth slot is still there.
    assert gql(SUBMIT, ONE)["data"]["submitJob"]["job"]
    quota_error(gql(SUBMIT, ONE))
    assert Job.objects.count() == 5


def test_each_person_has_their_own_window(
    alice: Any, bob: Any, jobs_app: TaskQueue, settings: Any, pinned_clock: list[float]
) -> None:
    settings.JOBS_SUBMISSIONS_PER_MINUTE = 2
    quotas.admit(alice, 2)
    with pytest.raises(quotas.QuotaExceeded):
        quotas.admit(alice)
    quotas.admit(bob, 2)  # alice's use is not bob's


def test_unfinished_jobs_over_the_limit_are_refused_until_one_ends(
    gql: Any, client: Any, alice: Any, bob: Any, jobs_app: TaskQueue, settings: Any
) -> None:
    settings.JOBS_MAX_UNFINISHED = 2
    running = Job.objects.create(owner=alice, provider="quote", state=State.STARTED.value)
    Job.objects.create(owner=alice, provider="quote", state=State.PENDING.value)
    Job.objects.create(owner=alice, provider="quote", state=State.SUCCESS.value)
    Job.objects.create(owner=bob, provider="quote", state=State.PENDING.value)
    client.force_login(alice)

    error = quota_error(gql(SUBMIT, ONE))
    assert "JOBS_MAX_UNFINISHED" in error["message"] and "2 unfinished" in error["message"]
    assert error["extensions"]["quota"] == "JOBS_MAX_UNFINISHED"
    assert error["extensions"]["retryAfter"] is None  # when a job ends, not a time

    Job.objects.filter(pk=running.pk).update(state=State.SUCCESS.value)
    quota_error(gql(SUBMIT_MANY, many(2)))  # one slot free, two asked
    assert gql(SUBMIT, ONE)["data"]["submitJob"]["job"]
    assert Job.objects.filter(owner=alice).count() == 4


def test_retrying_a_job_counts_as_a_submission(
    gql: Any, client: Any, alice: Any, jobs_app: TaskQueue, settings: Any
) -> None:
    settings.JOBS_MAX_UNFINISHED = 1
    Job.objects.create(owner=alice, provider="quote", state=State.PENDING.value)
    failed = Job.objects.create(owner=alice, provider="quote", state=State.FAILURE.value)
    client.force_login(alice)
    body = gql("mutation($id: ID!) { retryJob(id: $id) { job { id } } }", {"id": str(failed.pk)})
    assert quota_error(body)["extensions"]["quota"] == "JOBS_MAX_UNFINISHED"
    assert not Job.objects.filter(retry_of=failed).exists()


def _wait_for_a_fresh_minute(margin: float = 20.0) -> None:
    """The cross-process test cannot pin the server's clock: start it early
    in a minute, so the whole test happens within one window."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.5)


def test_the_minute_window_holds_across_web_processes(
    server: str, alice: Any, jobs_app: TaskQueue
) -> None:
    """This process uses up alice's minute (the default limit); the server,
    another process sharing only Redis, then refuses her next submission."""
    _, token = ApiToken.issue(alice)
    limit = quotas.DEFAULT_SUBMISSIONS_PER_MINUTE
    _wait_for_a_fresh_minute()
    quotas.admit(alice, 100)
    quotas.admit(alice, limit - 100)
    request = urllib.request.Request(
        f"http://{server}/graphql",
        data=json.dumps({"query": SUBMIT, "variables": ONE}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    error = quota_error(body)
    assert error["extensions"]["limit"] == limit
    assert not Job.objects.exists()
