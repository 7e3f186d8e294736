"""The API over real HTTP: daphne serving config.asgi in a subprocess, httpx as
the client, a real worker, real Kafka/Redis/Mongo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.models import ApiToken
from tests.support.servers import daphne

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture
def server(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with daphne(subprocess_env, tmp_path / "daphne.log") as port:
        yield f"http://127.0.0.1:{port}"


def _post(
    client: httpx.Client,
    base: str,
    query: str,
    variables: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    return client.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def test_bearer_client_submits_and_watches_a_job_to_success(
    server: str, alice: Any, worker: Path
) -> None:
    _, token = ApiToken.issue(alice)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10) as client:
        body = _post(
            client,
            server,
            'mutation { submitJob(input: {provider: "weather", '
            'params: {places: [{name: "Oslo"}]}}) '
            "{ job { id } errors { field } } }",
            **auth,
        ).json()
        job_id = body["data"]["submitJob"]["job"]["id"]

        def done() -> dict[str, Any] | None:
            q = "query($id: ID!) { job(id: $id) { state finishedAt result progress { percent } } }"
            job = _post(client, server, q, {"id": job_id}, **auth).json()["data"]["job"]
            return job if job["finishedAt"] else None

        job = wait_for(done, 90, "the job to finish", worker)
        assert job["state"] == "SUCCESS" and job["progress"]["percent"] == 100.0
        assert job["result"]["places"][0]["name"]
        listing = _post(
            client,
            server,
            "{ jobs { totalCount edges { node { id } } } workers { name queues } }",
            **auth,
        ).json()
        assert listing["data"]["jobs"]["totalCount"] == 1
        assert listing["data"]["workers"] and "high" in listing["data"]["workers"][0]["queues"]
        bad = _post(client, server, "{ viewer { username } }", Authorization="Bearer tq_wrong")
        assert bad.status_code == 401


def test_session_login_needs_csrf_and_then_works(server: str, alice: Any) -> None:
    login = (
        'mutation { login(username: "alice", password: "pw-alice-123") '
        "{ viewer { username } errors { rule } } }"
    )
    with httpx.Client(timeout=10) as client:
        refused = _post(client, server, login)
        assert refused.status_code == 403, "a session POST without the CSRF token is refused"
        token = client.get(f"{server}/accounts/csrf/").json()["csrfToken"]
        headers = {"X-CSRFToken": token, "Referer": server}
        wrong = _post(client, server, login.replace("pw-alice-123", "nope"), **headers).json()
        assert wrong["data"]["login"]["errors"] == [{"rule": "credentials"}]
        body = _post(client, server, login, **headers).json()
        assert body["data"]["login"]["viewer"]["username"] == "alice"
        token = client.cookies["csrftoken"]
        headers = {"X-CSRFToken": token, "Referer": server}
        viewer = _post(
            client, server, "{ viewer { username isStaff } stats { total } }", **headers
        ).json()
        assert viewer["data"]["viewer"] == {"username": "alice", "isStaff": False}
        assert viewer["data"]["stats"]["total"] == 0
        _post(client, server, "mutation { logout { ok } }", **headers)
        anon = _post(
            client,
            server,
            "{ jobs { totalCount } }",
            **{"X-CSRFToken": client.cookies["csrftoken"], "Referer": server},
        ).json()
        assert anon["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        page = client.get(f"{server}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
