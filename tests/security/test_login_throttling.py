"""Login throttling (issue 17, item 3): django-axes on every password path,
over the real database; one run through daphne, whose middleware is async."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

LOGIN = (
    'mutation { login(username: "alice", password: "%s") { viewer { username } errors { rule } } }'
)


def graphql_login(client: Client, password: str, **extra: str) -> Any:
    return client.post(
        "/graphql",
        data=json.dumps({"query": LOGIN % password}),
        content_type="application/json",
        **extra,
    )


def form_login(path: str) -> Any:
    def attempt(client: Client, password: str, **extra: str) -> Any:
        return client.post(path, {"username": "alice", "password": password}, **extra)

    return attempt


PATHS = {
    "graphql": graphql_login,
    "accounts": form_login("/accounts/login/"),
    "admin": form_login("/admin/login/"),
}


def assert_says_when_to_retry(response: Any) -> None:
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert 0 < seconds <= settings.AXES_COOLOFF_TIME.total_seconds()
    assert f"try again in {seconds} seconds" in response.content.decode()


@pytest.mark.parametrize("path", sorted(PATHS))
def test_repeated_failures_lock_the_login_and_say_when_to_retry(alice: Any, path: str) -> None:
    attempt = PATHS[path]
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert attempt(client, "wrong").status_code == 200
    assert_says_when_to_retry(attempt(client, "wrong"))
    # Locked: even the right password is refused until the cool-off ends.
    assert_says_when_to_retry(attempt(client, "pw-alice-123"))
    other_address = attempt(Client(), "pw-alice-123", REMOTE_ADDR="198.51.100.7")
    assert other_address.status_code in (200, 302), "the lock is per username and address"


def test_graphql_lockout_is_a_graphql_error(alice: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = graphql_login(client, "wrong")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["retryAfter"] == int(response["Retry-After"])


def test_one_operation_may_hold_one_login_only(alice: Any) -> None:
    query = (
        'mutation { a: login(username: "alice", password: "x") { errors { rule } } '
        '...More } fragment More on Mutation { b: login(username: "alice", password: "y") '
        "{ errors { rule } } }"
    )
    response = Client().post(
        "/graphql", data=json.dumps({"query": query}), content_type="application/json"
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "TOO_MANY_LOGINS"
    assert "at most 1 login field" in error["message"]
    assert not AccessAttempt.objects.exists(), "nothing was tried"


def test_lockout_over_daphne_says_when_to_retry(server: str, alice: Any) -> None:
    base = f"http://{server}"
    with httpx.Client(timeout=10) as client:
        token = client.get(f"{base}/accounts/csrf/").json()["csrfToken"]
        headers = {"X-CSRFToken": token, "Referer": base}
        for _ in range(settings.AXES_FAILURE_LIMIT):
            response = client.post(
                f"{base}/graphql", json={"query": LOGIN % "wrong"}, headers=headers
            )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
