"""API tokens (issue 17, item 5): expiry, a read-only scope, listing and
revoking by command and in admin, tokens made in admin, and ``last_used_at``
written at most once a minute. Websockets run against config.asgi in this
process with the real Redis carrying the "credentials ended" messages."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import TOKEN_TOUCH_INTERVAL, ApiToken, Job
from tests.progress.conftest import closed_with, receive, run
from tests.security.test_websocket_handshake import communicator, init, viewer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
    pytest.mark.usefixtures("redis_url"),
]

VIEWER = "{ viewer { username } }"
SUBMIT = """mutation { submitJob(input: {provider: "quote", params: {count: 1}}) {
  job { id } errors { field } } }"""


def bearer_post(token: str, query: str) -> Any:
    return Client().post(
        "/graphql",
        data=json.dumps({"query": query}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def expire(token: ApiToken) -> None:
    token.expires_at = timezone.now() - dt.timedelta(seconds=1)
    token.save()


# --- issuing ---------------------------------------------------------------------


def test_create_api_token_with_expiry_and_read_only_scope(alice: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    before = timezone.now()
    call_command(
        "create_api_token", "alice", "--expires", "30d", "--read-only", stdout=out, stderr=err
    )
    plain = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.read_only and ApiToken.verify(plain) == token
    assert (
        before + dt.timedelta(days=30) <= token.expires_at <= timezone.now() + dt.timedelta(days=30)
    )
    assert "read-only" in err.getvalue() and plain not in err.getvalue()


def test_create_api_token_refuses_a_duration_it_cannot_read(alice: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--expires"):
        call_command("create_api_token", "alice", "--expires", "soon")
    assert not ApiToken.objects.exists()


# --- expiry ------------------------------------------------------------------------


def test_an_expired_token_is_refused_like_an_invalid_one_on_http(alice: Any) -> None:
    row, token = ApiToken.issue(alice)
    assert bearer_post(token, VIEWER).json()["data"]["viewer"] == {"username": "alice"}
    expire(row)
    refused, unknown = bearer_post(token, VIEWER), bearer_post("tq_nonsense", VIEWER)
    assert refused.status_code == unknown.status_code == 401
    assert refused.json() == unknown.json()


def test_an_expired_token_is_refused_like_an_invalid_one_on_websockets(alice: Any) -> None:
    row, token = ApiToken.issue(alice)
    expire(row)

    async def close_code(value: str) -> int:
        ws = communicator(origin=None)
        await init(ws, value)
        return await closed_with(ws)

    assert run(close_code(token)) == run(close_code("tq_nonsense")) == 4403


def test_a_token_expiring_while_its_socket_is_open_closes_it(alice: Any) -> None:
    _, token = ApiToken.issue(alice, expires_in=dt.timedelta(seconds=2))

    async def body() -> int:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        assert await viewer(ws) == {"username": "alice"}
        return await closed_with(ws, timeout=20)  # the alarm armed at authentication

    assert run(body()) == 4401


def test_an_expiry_moved_into_the_past_closes_the_socket_at_once(alice: Any) -> None:
    row, token = ApiToken.issue(alice, expires_in=dt.timedelta(days=30))

    async def body() -> int:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        await database_sync_to_async(expire)(row)  # what an admin edit does
        return await closed_with(ws)

    assert run(body()) == 4401


# --- read-only scope -----------------------------------------------------------------


def test_a_read_only_token_reads_but_cannot_mutate(alice: Any) -> None:
    _, token = ApiToken.issue(alice, read_only=True)
    assert bearer_post(token, VIEWER).json()["data"]["viewer"] == {"username": "alice"}
    body = bearer_post(token, SUBMIT).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "READ_ONLY_TOKEN"
    assert "read-only" in error["message"]
    assert not Job.objects.exists()
    logout = bearer_post(token, "mutation { logout { ok } }").json()
    assert logout["errors"][0]["extensions"]["code"] == "READ_ONLY_TOKEN"


def test_a_read_write_token_may_mutate(alice: Any) -> None:
    _, token = ApiToken.issue(alice)
    body = bearer_post(token, "mutation { logout { ok } }").json()
    assert body == {"data": {"logout": {"ok": True}}}


# --- last use ----------------------------------------------------------------------------


def test_last_used_at_is_written_at_most_once_a_minute(alice: Any) -> None:
    row, token = ApiToken.issue(alice)
    t0 = timezone.now()

    def verify_at(moment: dt.datetime) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert ApiToken.verify(token, now=moment) is not None
        return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]

    assert len(verify_at(t0)) == 1
    assert verify_at(t0 + dt.timedelta(seconds=30)) == [], "no write within the minute"
    row.refresh_from_db()
    assert row.last_used_at == t0
    later = t0 + TOKEN_TOUCH_INTERVAL
    assert len(verify_at(later)) == 1
    row.refresh_from_db()
    assert row.last_used_at == later


# --- listing and revoking -----------------------------------------------------------------


def test_api_tokens_list_shows_tokens_but_never_their_values(alice: Any, bob: Any) -> None:
    _, plain = ApiToken.issue(alice, name="ci", read_only=True)
    expired, _ = ApiToken.issue(bob, name="old")
    expire(expired)
    out = io.StringIO()
    call_command("api_tokens", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert plain not in out.getvalue()
    assert lines[1].endswith("\talice\tci\tread-only\t-\t-\tactive"), lines  # never used
    assert lines[2].startswith(f"{expired.pk}\tbob\told\tread-write") and lines[2].endswith(
        "expired"
    )
    only_bob = io.StringIO()
    call_command("api_tokens", "list", "--user", "bob", stdout=only_bob)
    assert len(only_bob.getvalue().splitlines()) == 2


def test_api_tokens_revoke_closes_the_open_socket_and_refuses_the_token(alice: Any) -> None:
    row, token = ApiToken.issue(alice)
    keep, kept = ApiToken.issue(alice, name="other")

    async def body() -> int:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        await database_sync_to_async(call_command)(
            "api_tokens", "revoke", str(row.pk), stdout=io.StringIO()
        )
        return await closed_with(ws)

    assert run(body()) == 4401
    assert bearer_post(token, VIEWER).status_code == 401
    assert bearer_post(kept, VIEWER).status_code == 200


def test_api_tokens_revoke_names_unknown_ids_and_revokes_nothing(alice: Any) -> None:
    from django.core.management.base import CommandError

    row, _ = ApiToken.issue(alice)
    with pytest.raises(CommandError, match="no token with id 999999"):
        call_command("api_tokens", "revoke", str(row.pk), "999999")
    assert ApiToken.objects.filter(pk=row.pk).exists()
    call_command("api_tokens", "revoke", "--user", "alice", stdout=io.StringIO())
    assert not ApiToken.objects.exists()


# --- admin -------------------------------------------------------------------------------------


def test_a_token_added_in_admin_works_and_is_shown_once(alice: Any, staff: Any) -> None:
    admin = Client()
    admin.force_login(staff)
    response = admin.post(
        "/admin/jobs/apitoken/add/",
        {
            "user": alice.pk,
            "name": "from admin",
            "read_only": "on",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 200, response.content[:2000]
    assert "no-store" in response["Cache-Control"]
    plain = re.search(r"tq_[A-Za-z0-9_-]{20,}", response.content.decode()).group(0)  # type: ignore[union-attr]
    row = ApiToken.objects.get()
    assert (row.user, row.name, row.read_only) == (alice, "from admin", True)
    assert bearer_post(plain, VIEWER).json()["data"]["viewer"] == {"username": "alice"}
    change = admin.get(f"/admin/jobs/apitoken/{row.pk}/change/").content.decode()
    listing = admin.get("/admin/jobs/apitoken/").content.decode()
    assert plain not in change and plain not in listing and row.digest not in change


def test_admin_revoke_action_refuses_the_token(alice: Any, staff: Any) -> None:
    row, token = ApiToken.issue(alice)
    admin = Client()
    admin.force_login(staff)
    response = admin.post(
        "/admin/jobs/apitoken/",
        {"action": "revoke_selected", "_selected_action": [row.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["revoked 1 token(s)"]
    assert bearer_post(token, VIEWER).status_code == 401
