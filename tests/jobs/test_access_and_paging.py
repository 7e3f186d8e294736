"""Who sees what, pagination, search and stats (Django's test client)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from jobs.models import Job

from .conftest import GQL

pytestmark = pytest.mark.django_db

PAGE = """query($first: Int, $after: String, $state: JobState, $search: String) {
  jobs(first: $first, after: $after, state: $state, search: $search) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { id } } } }"""


def _jobs(owner: Any, n: int, **fields: Any) -> list[Job]:
    start = timezone.now() - dt.timedelta(hours=1)
    return [
        Job.objects.create(
            owner=owner,
            provider="quote",
            params={"count": i + 1},
            created_at=start + dt.timedelta(seconds=i),
            **fields,
        )
        for i in range(n)
    ]


def test_pages_cover_every_job_once_newest_first(gql: GQL, client: Any, alice: Any) -> None:
    made = _jobs(alice, 25)
    client.force_login(alice)
    seen, after = [], None
    while True:
        data = gql(PAGE, {"first": 10, "after": after})["data"]["jobs"]
        assert data["totalCount"] == 25
        seen += [e["node"]["id"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert seen == [str(j.pk) for j in reversed(made)]


def test_people_see_only_their_jobs_and_staff_see_all(
    gql: GQL, client: Any, alice: Any, bob: Any, staff: Any
) -> None:
    (alices,) = _jobs(alice, 1)
    _jobs(bob, 2)
    client.force_login(bob)
    assert gql(PAGE)["data"]["jobs"]["totalCount"] == 2
    denied = gql("query($id: ID!) { job(id: $id) { id } }", {"id": str(alices.pk)})
    assert denied["errors"][0]["extensions"]["rule"] == "not_found"
    cancel = gql(
        "mutation($id: ID!) { cancelJob(id: $id) { cancelled errors { rule } } }",
        {"id": str(alices.pk)},
    )
    assert cancel["data"]["cancelJob"] == {"cancelled": False, "errors": [{"rule": "not_found"}]}
    retry = gql(
        "mutation($id: ID!) { retryJob(id: $id) { errors { rule } } }", {"id": str(alices.pk)}
    )
    assert retry["data"]["retryJob"]["errors"] == [{"rule": "not_found"}]
    alices.refresh_from_db()
    assert alices.state == "PENDING"
    client.force_login(staff)
    assert gql(PAGE)["data"]["jobs"]["totalCount"] == 3
    assert (
        gql("query($id: ID!) { job(id: $id) { owner { username } } }", {"id": str(alices.pk)})[
            "data"
        ]["job"]["owner"]["username"]
        == "alice"
    )


def test_filters_search_and_stats(gql: GQL, client: Any, alice: Any) -> None:
    _jobs(alice, 3)
    done = _jobs(alice, 2, state="SUCCESS", finished_at=timezone.now())
    client.force_login(alice)
    assert gql(PAGE, {"state": "SUCCESS"})["data"]["jobs"]["totalCount"] == 2
    assert gql(PAGE, {"search": str(done[0].pk)[:8]})["data"]["jobs"]["totalCount"] == 1
    assert gql(PAGE, {"search": '"count": 3'})["data"]["jobs"]["totalCount"] >= 1
    stats = gql(
        "{ stats(minutes: 5) { total byState { state count } throughput { succeeded } "
        "finishedPerMinute } providers { name paramsSchema } }"
    )["data"]
    counts = {c["state"]: c["count"] for c in stats["stats"]["byState"]}
    assert stats["stats"]["total"] == 5 and counts["SUCCESS"] == 2 and counts["PENDING"] == 3
    assert sum(b["succeeded"] for b in stats["stats"]["throughput"]) == 2
    assert len(stats["stats"]["throughput"]) == 5
    assert {p["name"] for p in stats["providers"]} == {"weather", "quote", "exchange", "github"}
    assert all(p["paramsSchema"]["properties"] for p in stats["providers"])
