"""Who receives what: owner or staff only, session or bearer, snapshot first,
events in order; state changes are real writes through the framework's
Redis backend (the same Lua script and event channel workers use)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import Client

from jobs.models import ApiToken, Job
from taskqueue import TaskQueue
from taskqueue.stores.state import StateUpdate

from .conftest import communicator, receive, run, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

UPDATED = """subscription($id: ID!) {
  jobUpdated(id: $id) { id state attempts progress { current total percent message } } }"""
EVENTS = "subscription { jobEvents { id state owner { username } } }"


async def connect_as(token: str | None = None, cookie: str | None = None) -> Any:
    ws = communicator(cookie=cookie)
    await ws.connect()
    payload = {"authorization": f"Bearer {token}"} if token else None
    await send(ws, "connection_init", payload=payload)
    assert (await receive(ws))["type"] == "connection_ack"
    return ws


def write(app: TaskQueue, job: Job, state: str, attempt: int = 0, **payload: Any) -> None:
    app.state_backend.write(StateUpdate(str(job.pk), state, attempt, payload=payload or None))


async def write_soon(
    app: TaskQueue, job: Job, state: str, attempt: int = 0, **payload: Any
) -> None:
    await asyncio.to_thread(write, app, job, state, attempt, **payload)


def test_another_users_job_cannot_be_subscribed(alice: Any, bob: Any) -> None:
    job = Job.objects.create(owner=alice, provider="quote")
    _, token = ApiToken.issue(bob)

    async def body() -> dict:
        ws = await connect_as(token)
        await send(
            ws, "subscribe", id="1", payload={"query": UPDATED, "variables": {"id": str(job.pk)}}
        )
        message = await receive(ws)
        await ws.disconnect()
        return message

    message = run(body())
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["rule"] == "not_found"


def test_job_events_carry_only_the_viewers_jobs_and_staff_see_all(
    alice: Any, bob: Any, staff: Any, jobs_app: TaskQueue
) -> None:
    mine = Job.objects.create(owner=bob, provider="quote")
    theirs = Job.objects.create(owner=alice, provider="quote")
    _, bob_token = ApiToken.issue(bob)
    _, staff_token = ApiToken.issue(staff)

    async def body() -> tuple[list[dict], list[dict]]:
        as_bob, as_staff = await connect_as(bob_token), await connect_as(staff_token)
        for ws in (as_bob, as_staff):
            await send(ws, "subscribe", id="e", payload={"query": EVENTS})
        # Both jobs are PENDING: each subscriber is first sent the unfinished jobs it may see.
        bob_seen = [await receive(as_bob)]
        staff_seen = [await receive(as_staff), await receive(as_staff)]
        await write_soon(jobs_app, theirs, "RECEIVED")
        await write_soon(jobs_app, mine, "RECEIVED")
        bob_seen.append(await receive(as_bob))
        staff_seen += [await receive(as_staff), await receive(as_staff)]
        assert await as_bob.receive_nothing(0.3)
        for ws in (as_bob, as_staff):
            await ws.disconnect()
        return bob_seen, staff_seen

    bob_seen, staff_seen = run(body())

    def view(m: dict) -> tuple[str, str]:
        job = m["payload"]["data"]["jobEvents"]
        return job["owner"]["username"], job["state"]

    assert [view(m) for m in bob_seen] == [("bob", "PENDING"), ("bob", "RECEIVED")]
    assert sorted(view(m) for m in staff_seen) == [
        ("alice", "PENDING"),
        ("alice", "RECEIVED"),
        ("bob", "PENDING"),
        ("bob", "RECEIVED"),
    ]


def test_session_cookie_authenticates_and_late_subscriber_gets_current_state_first(
    alice: Any, jobs_app: TaskQueue
) -> None:
    job = Job.objects.create(owner=alice, provider="quote")
    write(jobs_app, job, "RECEIVED")
    write(jobs_app, job, "STARTED")
    write(jobs_app, job, "PROGRESS", current=2, total=4, message="half")
    browser = Client()
    browser.force_login(alice)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    async def body() -> list[dict]:
        ws = await connect_as(cookie=cookie)
        await send(
            ws, "subscribe", id="j", payload={"query": UPDATED, "variables": {"id": str(job.pk)}}
        )
        seen = [await receive(ws)]
        await write_soon(jobs_app, job, "STARTED")  # a repeat tells nothing: not sent
        await write_soon(jobs_app, job, "PROGRESS", current=3, total=4, message="more")
        await write_soon(jobs_app, job, "SUCCESS")
        seen += [await receive(ws), await receive(ws), await receive(ws)]
        await ws.disconnect()
        return seen

    seen = run(body())
    views = [m["payload"]["data"]["jobUpdated"] for m in seen[:3]]
    assert [(v["state"], v["progress"]["current"]) for v in views] == [
        ("PROGRESS", 2),
        ("PROGRESS", 3),
        ("SUCCESS", 3),
    ]
    assert views[0]["progress"] == {"current": 2, "total": 4, "percent": 50.0, "message": "half"}
    assert views[2]["attempts"] == 1 and views[2]["progress"]["percent"] == 75.0
    assert seen[3] == {"type": "complete", "id": "j"}


def test_a_retry_attempt_moves_the_view_forward_not_back(alice: Any, jobs_app: TaskQueue) -> None:
    job = Job.objects.create(owner=alice, provider="quote")
    _, token = ApiToken.issue(alice)

    async def body() -> list[tuple[str, int]]:
        ws = await connect_as(token)
        await send(
            ws, "subscribe", id="j", payload={"query": UPDATED, "variables": {"id": str(job.pk)}}
        )
        seen = [await receive(ws)]
        for state, attempt in (("STARTED", 0), ("RETRY", 0), ("RECEIVED", 1), ("STARTED", 1)):
            await write_soon(jobs_app, job, state, attempt)
            seen.append(await receive(ws))
        await ws.disconnect()
        return [
            (
                m["payload"]["data"]["jobUpdated"]["state"],
                m["payload"]["data"]["jobUpdated"]["attempts"],
            )
            for m in seen
        ]

    assert run(body()) == [
        ("PENDING", 0),
        ("STARTED", 1),
        ("RETRY", 1),
        ("RECEIVED", 2),
        ("STARTED", 2),
    ]
