"""The graphql-transport-ws rules, through Channels' WebsocketCommunicator
against config.asgi (origin check, session middleware, our consumer)."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import ApiToken

from .conftest import closed_with, communicator, receive, run, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

JOB_EVENTS = "subscription { jobEvents { id state } }"


async def acked(**kwargs: Any) -> Any:
    ws = communicator(**kwargs)
    connected, subprotocol = await ws.connect()
    assert connected and subprotocol == "graphql-transport-ws"
    await send(ws, "connection_init")
    assert await receive(ws) == {"type": "connection_ack"}
    return ws


def test_ping_is_answered_with_pong() -> None:
    async def body() -> None:
        ws = await acked()
        await send(ws, "ping", payload={"n": 1})
        assert await receive(ws) == {"type": "pong", "payload": {"n": 1}}
        await send(ws, "pong")  # a pong needs no answer
        assert await ws.receive_nothing(0.2)
        await ws.disconnect()

    run(body())


@pytest.mark.parametrize(
    "frame",
    ['{"type": "subscribe_me"}', "not json", '{"id": "1"}', '{"type": "subscribe", "id": "1"}'],
)
def test_invalid_messages_close_with_4400(frame: str) -> None:
    async def body() -> int:
        ws = await acked()
        await ws.send_to(text_data=frame)
        return await closed_with(ws)

    assert run(body()) == 4400


def test_subscribe_before_ack_closes_with_4401() -> None:
    async def body() -> int:
        ws = communicator()
        await ws.connect()
        await send(ws, "subscribe", id="1", payload={"query": JOB_EVENTS})
        return await closed_with(ws)

    assert run(body()) == 4401


def test_duplicate_operation_id_closes_with_4409(alice: Any) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> int:
        ws = communicator()
        await ws.connect()
        await send(ws, "connection_init", payload={"authorization": f"Bearer {token}"})
        assert (await receive(ws))["type"] == "connection_ack"
        await send(ws, "subscribe", id="same", payload={"query": JOB_EVENTS})
        await send(ws, "subscribe", id="same", payload={"query": JOB_EVENTS})
        return await closed_with(ws)

    assert run(body()) == 4409


def test_second_connection_init_closes_with_4429() -> None:
    async def body() -> int:
        ws = await acked()
        await send(ws, "connection_init")
        return await closed_with(ws)

    assert run(body()) == 4429


def test_no_connection_init_in_time_closes_with_4408(settings: Any) -> None:
    settings.GRAPHQL_WS_INIT_TIMEOUT = 0.3

    async def body() -> int:
        ws = communicator()
        await ws.connect()
        return await closed_with(ws, timeout=5)

    assert run(body()) == 4408


def test_missing_subprotocol_closes_with_4406() -> None:
    async def body() -> int:
        ws = communicator(subprotocols=[])
        await ws.connect()
        return await closed_with(ws)

    assert run(body()) == 4406


def test_invalid_bearer_token_closes_with_4403() -> None:
    async def body() -> int:
        ws = communicator()
        await ws.connect()
        await send(ws, "connection_init", payload={"authorization": "Bearer tq_wrong"})
        return await closed_with(ws)

    assert run(body()) == 4403


def test_anonymous_subscribe_gets_an_unauthenticated_error() -> None:
    async def body() -> dict:
        ws = await acked()
        await send(ws, "subscribe", id="1", payload={"query": JOB_EVENTS})
        message = await receive(ws)
        await send(ws, "ping")  # the connection stays usable
        assert (await receive(ws))["type"] == "pong"
        await ws.disconnect()
        return message

    message = run(body())
    assert message["type"] == "error" and message["id"] == "1"
    assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_invalid_document_gets_an_error_message(alice: Any) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> list[dict]:
        ws = communicator()
        await ws.connect()
        await send(ws, "connection_init", payload={"authorization": f"Bearer {token}"})
        await receive(ws)
        await send(ws, "subscribe", id="a", payload={"query": "subscription { nope }"})
        await send(ws, "subscribe", id="b", payload={"query": "subscription {"})
        out = [await receive(ws), await receive(ws)]
        await ws.disconnect()
        return out

    for message in run(body()):
        assert message["type"] == "error" and message["payload"][0]["message"]


def test_query_over_the_socket_answers_next_then_complete(alice: Any) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> list[dict]:
        ws = communicator()
        await ws.connect()
        await send(ws, "connection_init", payload={"authorization": f"Bearer {token}"})
        await receive(ws)
        await send(ws, "subscribe", id="q", payload={"query": "{ viewer { username } }"})
        out = [await receive(ws), await receive(ws)]
        await ws.disconnect()
        return out

    first, second = run(body())
    assert first == {
        "type": "next",
        "id": "q",
        "payload": {"data": {"viewer": {"username": "alice"}}},
    }
    assert second == {"type": "complete", "id": "q"}
