"""Power over other people's jobs is a permission (issue 17, item 7):
``jobs.view_all_jobs`` to see them, ``jobs.manage_all_jobs`` to cancel and
retry them; ``is_staff`` alone grants neither. Through /graphql, the
websocket (live events from the real Redis) and admin; cancel and retry go
through the real Kafka and Redis of an isolated app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from jobs.models import ApiToken, Job
from taskqueue import TaskQueue
from taskqueue.states import State
from taskqueue.stores.state import StateUpdate
from tests.progress.conftest import receive, run, send
from tests.security.test_websocket_handshake import communicator, init

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

JOB = "query($id: ID!) { job(id: $id) { id owner { username } } }"
JOBS = "{ jobs { totalCount edges { node { owner { username } } } } }"
CANCEL = "mutation($id: ID!) { cancelJob(id: $id) { cancelled errors { field rule message } } }"
RETRY = "mutation($id: ID!) { retryJob(id: $id) { job { id } errors { field rule message } } }"


def person(username: str, *perms: str, is_staff: bool = False) -> Any:
    user = get_user_model().objects.create_user(username, password="pw-12345-x", is_staff=is_staff)
    if perms:
        group = Group.objects.create(name=f"{username}-group")
        codenames = [p.split(".", 1)[1] for p in perms]
        group.permissions.set(Permission.objects.filter(codename__in=codenames))
        user.groups.add(group)
    return get_user_model().objects.get(pk=user.pk)  # no cached permissions


@pytest.fixture
def alices_jobs(alice: Any) -> dict[str, Job]:
    return {
        "pending": Job.objects.create(owner=alice, provider="quote", params={"count": 1}),
        "failed": Job.objects.create(
            owner=alice, provider="quote", params={"count": 1}, state=State.FAILURE.value
        ),
    }


def as_(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def test_bare_staff_sees_and_manages_only_their_own_jobs(
    gql: Any, client: Any, alices_jobs: dict[str, Job]
) -> None:
    as_(client, person("carol", is_staff=True))
    job = alices_jobs["pending"]
    assert gql(JOBS)["data"]["jobs"]["totalCount"] == 0
    found = gql(JOB, {"id": str(job.pk)})
    assert found["errors"][0]["extensions"]["rule"] == "not_found"
    cancel = gql(CANCEL, {"id": str(job.pk)})["data"]["cancelJob"]
    assert cancel["errors"][0]["rule"] == "not_found", "like a job that does not exist"
    job.refresh_from_db()
    assert job.state == State.PENDING.value


def test_view_all_jobs_shows_everyone_s_jobs_but_does_not_let_one_act(
    gql: Any, client: Any, alices_jobs: dict[str, Job]
) -> None:
    as_(client, person("dave", "jobs.view_all_jobs"))  # not staff: the permission is what counts
    assert gql(JOBS)["data"]["jobs"]["totalCount"] == 2
    pending, failed = alices_jobs["pending"], alices_jobs["failed"]
    assert gql(JOB, {"id": str(pending.pk)})["data"]["job"]["owner"] == {"username": "alice"}
    cancel = gql(CANCEL, {"id": str(pending.pk)})["data"]["cancelJob"]
    assert cancel["errors"][0]["rule"] == "permission"
    assert "jobs.manage_all_jobs" in cancel["errors"][0]["message"]
    retry = gql(RETRY, {"id": str(failed.pk)})["data"]["retryJob"]
    assert retry["errors"][0]["rule"] == "permission"
    pending.refresh_from_db()
    assert pending.state == State.PENDING.value
    assert not Job.objects.filter(retry_of=failed).exists()


def test_manage_all_jobs_cancels_and_retries_everyone_s_jobs(
    gql: Any, client: Any, alices_jobs: dict[str, Job], jobs_app: TaskQueue
) -> None:
    as_(client, person("erin", "jobs.view_all_jobs", "jobs.manage_all_jobs"))
    pending, failed = alices_jobs["pending"], alices_jobs["failed"]
    cancel = gql(CANCEL, {"id": str(pending.pk)})["data"]["cancelJob"]
    assert cancel == {"cancelled": True, "errors": []}
    pending.refresh_from_db()
    assert pending.state == State.REVOKED.value and "erin" in pending.error
    retry = gql(RETRY, {"id": str(failed.pk)})["data"]["retryJob"]
    assert retry["errors"] == [], retry
    assert Job.objects.get(pk=retry["job"]["id"]).retry_of_id == failed.pk


def test_superusers_hold_both_permissions(
    gql: Any, client: Any, staff: Any, alices_jobs: dict[str, Job], jobs_app: TaskQueue
) -> None:
    as_(client, staff)
    assert gql(JOBS)["data"]["jobs"]["totalCount"] == 2
    cancel = gql(CANCEL, {"id": str(alices_jobs["pending"].pk)})["data"]["cancelJob"]
    assert cancel["cancelled"] is True


@pytest.mark.usefixtures("redis_url")
def test_live_events_of_others_reach_only_holders_of_view_all_jobs(
    alice: Any, jobs_app: TaskQueue
) -> None:
    job = Job.objects.create(owner=alice, provider="quote")
    _, staff_token = ApiToken.issue(person("carol", is_staff=True))
    _, viewer_token = ApiToken.issue(person("dave", "jobs.view_all_jobs"))
    events = "subscription { jobEvents { id state } }"

    async def body() -> tuple[list[str], bool]:
        bare, holder = communicator(origin=None), communicator(origin=None)
        for ws, token in ((bare, staff_token), (holder, viewer_token)):
            await init(ws, token)
            assert await receive(ws) == {"type": "connection_ack"}
            await send(ws, "subscribe", id="e", payload={"query": events})
        snapshot = await receive(holder)  # alice's unfinished job, for the holder only
        await asyncio.to_thread(
            jobs_app.state_backend.write, StateUpdate(str(job.pk), "RECEIVED", 0)
        )
        live = await receive(holder)
        staff_heard_nothing = await bare.receive_nothing(0.5)
        for ws in (bare, holder):
            await ws.disconnect()
        states = [m["payload"]["data"]["jobEvents"]["state"] for m in (snapshot, live)]
        return states, staff_heard_nothing

    assert run(body()) == (["PENDING", "RECEIVED"], True)


def test_admin_job_actions_need_manage_all_jobs(alice: Any) -> None:
    Job.objects.create(owner=alice, provider="quote")
    viewer = person("frank", "jobs.view_job", is_staff=True)
    manager = person("grace", "jobs.view_job", "jobs.manage_all_jobs", is_staff=True)

    def actions(user: Any) -> set[str]:
        admin = Client()
        admin.force_login(user)
        response = admin.get("/admin/jobs/job/")
        assert response.status_code == 200
        form = response.context["action_form"]  # None when no action is allowed
        return {value for value, _ in form.fields["action"].choices} if form else set()

    job_actions = {"cancel_selected", "requeue_selected", "replay_dead_letters"}
    assert not job_actions & actions(viewer)
    assert job_actions <= actions(manager)
