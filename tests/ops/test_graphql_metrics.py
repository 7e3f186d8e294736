"""The web's GraphQL metrics (``jobs.api.metrics``): operations counted and
timed by name and type over HTTP, client-chosen names kept bounded, and the
open-subscriptions gauge following websocket subscriptions (through
config.asgi and the real Redis behind the progress hub)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from prometheus_client import REGISTRY

from jobs.api import metrics
from jobs.models import ApiToken
from tests.progress.conftest import communicator, receive, run, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_http_operations_are_counted_and_timed_by_name_and_type(client: Any) -> None:
    named = {"operation": "TypeProbe", "type": "query"}
    anonymous = {"operation": "anonymous", "type": "query"}
    before = (
        value("graphql_operations_total", **named),
        value("graphql_operation_duration_seconds_count", **named),
        value("graphql_operations_total", **anonymous),
    )
    client.get(
        "/graphql", {"query": "query TypeProbe { __typename }"}, HTTP_ACCEPT="application/json"
    )
    client.get("/graphql", {"query": "{ __typename }"}, HTTP_ACCEPT="application/json")
    client.get("/graphql", {"query": "query Broken {"}, HTTP_ACCEPT="application/json")
    after = (
        value("graphql_operations_total", **named),
        value("graphql_operation_duration_seconds_count", **named),
        value("graphql_operations_total", **anonymous),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
    assert value("graphql_operations_total", operation="Broken", type="query") == 0


def test_operation_names_past_the_cap_count_as_other(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 1)
    monkeypatch.setattr(metrics, "_names", set())
    other = {"operation": "other", "type": "query"}
    before = value("graphql_operations_total", **other)
    for name in ("FirstName", "SecondName", "ThirdName"):
        client.get("/graphql", {"query": f"query {name} {{ __typename }}"})
    assert value("graphql_operations_total", **other) - before == 2
    assert value("graphql_operations_total", operation="ThirdName", type="query") == 0


def test_the_open_subscriptions_gauge_follows_websocket_subscriptions() -> None:
    alice = get_user_model().objects.create_user("alice", password="pw-alice-123")
    _, token = ApiToken.issue(alice)
    base = value("graphql_subscriptions_open")
    watch = {"operation": "Watch", "type": "subscription"}
    watched = value("graphql_operations_total", **watch)

    async def until(expected: float) -> None:
        for _ in range(500):  # a deadline of 10 s, checked every 20 ms
            if value("graphql_subscriptions_open") == expected:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"graphql_subscriptions_open never became {expected}")

    async def body() -> None:
        ws = communicator()
        await ws.connect()
        await send(ws, "connection_init", payload={"authorization": f"Bearer {token}"})
        assert (await receive(ws))["type"] == "connection_ack"
        query = "subscription Watch { jobEvents { id state } }"
        await send(ws, "subscribe", id="s", payload={"query": query})
        await until(base + 1)
        await send(ws, "complete", id="s")
        await until(base)
        await ws.disconnect()

    run(body())
    assert value("graphql_operations_total", **watch) - watched == 1
