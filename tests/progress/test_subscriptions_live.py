"""Subscriptions over a real websocket: daphne serving config.asgi, the
`websockets` client speaking graphql-transport-ws, a real worker running
real jobs on Kafka, Redis and Mongo."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from jobs.models import ApiToken

from .conftest import SUBPROTOCOL, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

LIVE_FIELDS = (
    "id state attempts error createdAt startedAt finishedAt worker provider "
    "progress { current total percent message }"
)


async def open_socket(server: str, token: str) -> ClientConnection:
    ws = await connect(
        f"ws://{server}/graphql", subprotocols=[SUBPROTOCOL], origin=f"http://{server}"
    )
    assert ws.subprotocol == SUBPROTOCOL
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    return ws


async def subscribe(ws: ClientConnection, op_id: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"type": "subscribe", "id": op_id, "payload": payload}))


async def frames_until(ws: ClientConnection, done: Any, timeout: float = 90) -> list[dict]:
    """Messages received until ``done(message)`` holds (inclusive)."""
    out: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            out.append(message)
            if done(message):
                return out


def submit(server: str, token: str, provider: str, params: dict[str, Any]) -> str:
    query = """mutation($input: SubmitJobInput!) {
      submitJob(input: $input) { job { id } errors { field message } } }"""
    response = httpx.post(
        f"http://{server}/graphql",
        json={"query": query, "variables": {"input": {"provider": provider, "params": params}}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    payload = response.json()["data"]["submitJob"]
    assert payload["errors"] == [], payload
    return payload["job"]["id"]


def test_job_events_deliver_every_state_of_a_real_job_in_order(
    server: str, alice: Any, worker: Path
) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> list[dict]:
        ws = await open_socket(server, token)
        await subscribe(ws, "all", f"subscription {{ jobEvents {{ {LIVE_FIELDS} }} }}")
        await asyncio.sleep(0.5)  # the subscription is registered before the job exists
        job_id = await asyncio.to_thread(
            submit, server, token, "quote", {"count": 3, "page_size": 1}
        )
        frames = await frames_until(
            ws,
            lambda m: (
                m["type"] != "next" or m["payload"]["data"]["jobEvents"]["state"] == "SUCCESS"
            ),
        )
        await ws.close()
        assert all(f["type"] == "next" and f["id"] == "all" for f in frames), frames
        events = [f["payload"]["data"]["jobEvents"] for f in frames]
        assert {e["id"] for e in events} == {job_id}
        return events

    events = run(body())
    states = [e["state"] for e in events]
    assert states == ["RECEIVED", "STARTED", "PROGRESS", "PROGRESS", "PROGRESS", "SUCCESS"]
    assert [e["progress"]["current"] for e in events[2:5]] == [1, 2, 3]
    assert [e["progress"]["percent"] for e in events[2:]] == [33.3, 66.7, 100.0, 100.0]
    last = events[-1]
    assert last["provider"] == "quote" and last["attempts"] == 1 and last["error"] is None
    assert last["worker"] and last["startedAt"] and last["finishedAt"] and last["createdAt"]
    assert events[1]["startedAt"] and events[1]["finishedAt"] is None


def test_job_updated_sends_the_current_state_first_then_completes_at_the_end(
    server: str, alice: Any, worker: Path
) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> tuple[list[dict], list[dict]]:
        ws = await open_socket(server, token)
        job_id = await asyncio.to_thread(
            submit, server, token, "quote", {"count": 3, "page_size": 1}
        )
        await subscribe(
            ws,
            "one",
            f"subscription($id: ID!) {{ jobUpdated(id: $id) {{ {LIVE_FIELDS} }} }}",
            id=job_id,
        )
        live = await frames_until(ws, lambda m: m["type"] != "next")
        # The job is over: a late subscriber gets its final state, then complete.
        await subscribe(
            ws,
            "late",
            f"subscription($id: ID!) {{ jobUpdated(id: $id) {{ {LIVE_FIELDS} }} }}",
            id=job_id,
        )
        late = await frames_until(ws, lambda m: m["type"] != "next")
        await ws.close()
        return live, late

    live, late = run(body())
    assert live[-1] == {"type": "complete", "id": "one"}
    events = [f["payload"]["data"]["jobUpdated"] for f in live[:-1]]
    ranks = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "PROGRESS": 3, "SUCCESS": 5}
    order = [(ranks[e["state"]], e["progress"]["current"] or 0) for e in events]
    assert order == sorted(order), "never backwards"
    assert events[-1]["state"] == "SUCCESS" and events[-1]["progress"]["percent"] == 100.0
    assert [f["type"] for f in late] == ["next", "complete"]
    assert late[0]["payload"]["data"]["jobUpdated"]["state"] == "SUCCESS"
