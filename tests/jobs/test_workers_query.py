"""The GraphQL ``workers`` query, from heartbeats in the real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.stores.state import WorkerHeartbeat

from .conftest import GQL

QUERY = "{ workers { name status problem queues } }"


@pytest.mark.django_db
def test_a_worker_holding_its_work_shows_unhealthy_with_the_reason(
    gql: GQL, client: Any, alice: Any, jobs_app: TaskQueue
) -> None:
    state = jobs_app.state_backend
    problem = "MongoDB unavailable: ServerSelectionTimeoutError: timed out"
    state.announce_worker("sick", WorkerHeartbeat(queues="default", problem=problem), ttl=30)
    state.announce_worker("well", WorkerHeartbeat(queues="default", problem=""), ttl=30)
    client.force_login(alice)
    try:
        body = gql(QUERY)
    finally:
        state.remove_worker("sick")
        state.remove_worker("well")
    assert "errors" not in body, body
    workers = {w["name"]: w for w in body["data"]["workers"]}
    # Neither names a control address: the status comes from the heartbeat alone.
    assert workers["sick"]["problem"] == problem
    assert workers["sick"]["status"] == "unhealthy"
    assert workers["well"]["problem"] is None
    assert workers["well"]["status"] == "no-control"
