"""requeue_jobs on each filter (dry runs and real ones), admin pages and actions,
and a submission Kafka refuses (nothing is left looking queued)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.taskapp import use_app
from taskqueue import TaskQueue
from taskqueue.contrib.django import django_app

pytestmark = pytest.mark.django_db


PARAMS = {
    "quote": {"count": 1},
    "github": {"repo": "octocat/hello-world"},
    "weather": {"places": [{"name": "Oslo"}]},
}


def _job(owner: Any, age: dt.timedelta = dt.timedelta(hours=2), **fields: Any) -> Job:
    created = timezone.now() - age
    fields.setdefault("queued_at", created)
    provider = fields.pop("provider", "quote")
    return Job.objects.create(
        owner=owner,
        provider=provider,
        params=PARAMS[provider],
        created_at=created,
        **fields,
    )


def _requeue(*args: str) -> str:
    out = io.StringIO()
    call_command("requeue_jobs", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def mix(alice: Any) -> dict[str, Job]:
    return {
        "stuck": _job(alice, queued_at=None),
        "fresh_pending": _job(alice, dt.timedelta(seconds=1), queued_at=None),
        "started": _job(alice, state="STARTED", provider="weather"),
        "failed": _job(alice, state="FAILURE", provider="github"),
        "revoked": _job(alice, dt.timedelta(minutes=5), state="REVOKED"),
        "done": _job(alice, state="SUCCESS"),
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stuck"], {"stuck"}),
        (["--state", "FAILURE"], {"failed"}),
        (["--state", "started", "--state", "REVOKED"], {"started", "revoked"}),
        (["--provider", "weather"], {"started"}),
        (["--older-than", "1h"], {"stuck", "started", "failed", "done"}),
        (["--older-than", "1h", "--limit", "2"], {"stuck", "started"}),
    ],
)
def test_dry_run_names_what_each_filter_selects_and_changes_nothing(
    mix: dict[str, Job], args: list[str], expected: set[str]
) -> None:
    before = {k: (j.state, j.queued_at) for k, j in mix.items()}
    out = _requeue(*args, "--dry-run")
    assert f"{len(expected)} job(s) selected (dry run" in out
    named = {k for k, j in mix.items() if str(j.pk) in out}
    assert named == expected
    for key, job in mix.items():
        job.refresh_from_db()
        assert (job.state, job.queued_at) == before[key]
    assert Job.objects.count() == len(mix), "a dry run creates no retries"


def test_ids_filter_and_bad_options(mix: dict[str, Job]) -> None:
    out = _requeue("--ids", f"{mix['done'].pk},{mix['failed'].pk}", "--dry-run")
    assert "skipped (it succeeded)" in out and "would retry" in out
    with pytest.raises(CommandError, match="not a job id"):
        _requeue("--ids", "nope")
    with pytest.raises(CommandError, match="not a state"):
        _requeue("--state", "DONE")
    with pytest.raises(CommandError, match="not a duration"):
        _requeue("--older-than", "soon")


def test_requeue_is_idempotent_when_run_twice(mix: dict[str, Job], jobs_app: TaskQueue) -> None:
    out = _requeue("--older-than", "1m")
    assert "republished 2, retried 2, skipped 1" in out, out
    mix["stuck"].refresh_from_db()
    assert mix["stuck"].queued_at is not None, "Kafka acknowledged the republished job"
    retry = Job.objects.get(retry_of=mix["failed"])
    assert retry.queued_at and retry.provider == "github"
    again = _requeue("--older-than", "1m")
    assert "republished 0, retried 0" in again, again
    assert Job.objects.filter(retry_of__isnull=False).count() == 2


def test_progress_bar_on_large_batches(alice: Any, jobs_app: TaskQueue) -> None:
    for _ in range(60):
        _job(alice, queued_at=None)
    out = _requeue("--stuck")
    assert "60/60" in out and "republished 60" in out
    assert not Job.objects.filter(queued_at__isnull=True).exists()


def test_submission_kafka_refuses_is_failed_not_queued(alice: Any, unique_name: str) -> None:
    app = django_app(
        "jobs-down",
        broker_url="kafka://127.0.0.1:9",
        topic_prefix=f"{unique_name}.",
        key_prefix=unique_name,
        result_database=unique_name,
        publish_timeout=1.0,
    )
    with use_app(app), pytest.raises(services.NotQueued, match="was not queued"):
        services.submit(alice, services.JobRequest("quote", {"count": 1}, idempotency_key="k"))
    job = Job.objects.get()
    assert job.state == "FAILURE" and job.queued_at is None and "not queued" in job.error
    assert job.idempotency_key is None, "the caller may try again with the same key"
    app.result_store.drop()
    app.close()


def test_admin_list_detail_and_actions(
    client: Any, staff: Any, mix: dict[str, Job], jobs_app: TaskQueue
) -> None:
    client.force_login(staff)
    listing = client.get("/admin/jobs/job/", {"state__exact": "FAILURE", "q": "octocat"})
    assert listing.status_code == 200 and str(mix["failed"].pk).encode() in listing.content
    assert (
        client.get(
            "/admin/jobs/job/", {"provider": "weather", "owner__id__exact": mix["done"].owner_id}
        ).status_code
        == 200
    )
    detail = client.get(f"/admin/jobs/job/{mix['failed'].pk}/change/")
    assert detail.status_code == 200
    for label in (b"live status", b"answered by", b"result or error (mongo)", b"params"):
        assert label in detail.content.lower()
    response = client.post(
        "/admin/jobs/job/",
        {
            "action": "cancel_selected",
            "_selected_action": [str(mix["started"].pk), str(mix["done"].pk)],
        },
        follow=True,
    )
    notes = [str(m) for m in response.context["messages"]]
    assert any("cancelled 1 of 2 job(s)" in n for n in notes), notes
    mix["started"].refresh_from_db()
    assert mix["started"].state == "REVOKED"
    response = client.post(
        "/admin/jobs/job/",
        {
            "action": "requeue_selected",
            "_selected_action": [str(mix["failed"].pk), str(mix["stuck"].pk)],
        },
        follow=True,
    )
    notes = [str(m) for m in response.context["messages"]]
    assert any("republished 1, retried 1, skipped 0" in n for n in notes), notes
    assert Job.objects.filter(retry_of=mix["failed"]).exists()


def test_unknown_job_in_admin_is_a_404_not_a_500(client: Any, staff: Any) -> None:
    client.force_login(staff)
    response = client.get(f"/admin/jobs/job/{uuid.uuid4()}/change/", follow=True)
    assert response.status_code == 200 and b"doesn" in response.content
