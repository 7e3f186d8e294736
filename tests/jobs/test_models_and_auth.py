"""Job state ordering, API tokens and bearer authentication."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from jobs.auth import BearerTokenMiddleware
from jobs.models import ApiToken, Job
from taskqueue.states import State

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


def test_final_state_never_regresses(alice) -> None:
    job = Job.objects.create(owner=alice, provider="quote", state=State.SUCCESS.value, attempts=1)
    assert not job.accepts(State.STARTED, 1)
    assert not job.accepts(State.RETRY, 2), "not even a newer attempt reopens a final job"


def test_late_event_of_older_attempt_is_refused(alice) -> None:
    job = Job.objects.create(owner=alice, provider="quote", state=State.STARTED.value, attempts=2)
    assert not job.accepts(State.PROGRESS, 1)
    assert job.accepts(State.SUCCESS, 2)
    assert job.accepts(State.RECEIVED, 3)


def test_percent_and_runtime(alice) -> None:
    job = Job(owner=alice, provider="quote", progress_current=1, progress_total=4)
    assert job.percent == 25.0
    assert job.runtime_seconds is None


def test_idempotency_key_unique_per_owner(alice) -> None:
    from django.db import IntegrityError, transaction

    Job.objects.create(owner=alice, provider="quote", idempotency_key="k1")
    Job.objects.create(owner=alice, provider="quote")  # no key: no constraint
    Job.objects.create(owner=alice, provider="quote")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(owner=alice, provider="quote", idempotency_key="k1")


def _through_middleware(request: HttpRequest) -> tuple[HttpResponse, object]:
    seen = {}

    def view(req: HttpRequest) -> HttpResponse:
        seen["user"] = req.user
        return HttpResponse("ok")

    response = BearerTokenMiddleware(view)(request)
    return response, seen.get("user")


def test_create_api_token_prints_a_token_that_authenticates(alice) -> None:
    out = io.StringIO()
    call_command("create_api_token", "alice", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    assert token.startswith(ApiToken.PREFIX)
    assert not ApiToken.objects.filter(digest=token).exists(), "only the digest is stored"
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    response, user = _through_middleware(request)
    assert response.status_code == 200 and user == alice
    assert getattr(request, "_dont_enforce_csrf_checks", False)


def test_wrong_token_is_refused_with_a_clear_error(alice) -> None:
    request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer tq_not-a-token")
    response, user = _through_middleware(request)
    assert response.status_code == 401 and user is None
    assert b"invalid or revoked" in response.content


def test_inactive_users_token_is_refused(alice) -> None:
    _, token = ApiToken.issue(alice)
    alice.is_active = False
    alice.save()
    response, _ = _through_middleware(
        RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    )
    assert response.status_code == 401


def test_create_api_token_for_unknown_user_names_it() -> None:
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_api_token", "nobody")


def test_demo_users_are_created_once() -> None:
    call_command("create_demo_user", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_demo_user", stdout=out)
    assert "demo: exists" in out.getvalue()
    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password("demo-password") and not demo.is_staff
    assert get_user_model().objects.get(username="admin").is_superuser


def test_admin_job_list_and_detail_render(alice, client) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-root-123")
    job = Job.objects.create(
        owner=alice,
        provider="weather",
        params={"places": ["Oslo"]},
        progress_current=2,
        progress_total=4,
        progress_message="Oslo",
    )
    client.force_login(admin)
    listing = client.get("/admin/jobs/job/?state=PENDING")
    assert listing.status_code == 200 and b"50%" in listing.content
    detail = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert detail.status_code == 200 and b"Oslo" in detail.content
