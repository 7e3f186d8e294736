"""Who may open the GraphQL websocket, and with which credentials (issue 17,
item 1): Channels' WebsocketCommunicator against config.asgi in this process,
with the real Redis carrying the "credentials ended" messages, and one run
against daphne over a real socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from jobs.models import ApiToken
from tests.progress.conftest import SUBPROTOCOL, closed_with, receive, run, send

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
    pytest.mark.usefixtures("redis_url"),
]

VIEWER = "{ viewer { username } }"


def communicator(origin: str | None, cookie: str | None = None) -> WebsocketCommunicator:
    from config.asgi import application

    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(
        application, "/graphql", headers=headers, subprotocols=[SUBPROTOCOL]
    )


def session_cookie(user: Any) -> tuple[Client, str]:
    browser = Client()
    browser.force_login(user)
    return browser, f"sessionid={browser.cookies['sessionid'].value}"


async def viewer(ws: WebsocketCommunicator) -> Any:
    await send(ws, "subscribe", id="v", payload={"query": VIEWER})
    message = await receive(ws)
    assert message["type"] == "next", message
    assert (await receive(ws))["type"] == "complete"
    return message["payload"]["data"]["viewer"]


async def init(ws: WebsocketCommunicator, token: str | None = None) -> None:
    connected, _ = await ws.connect()
    assert connected
    payload = {"authorization": f"Bearer {token}"} if token else None
    await send(ws, "connection_init", payload=payload)


def test_client_without_origin_is_authenticated_by_its_token(alice: Any) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> Any:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        seen = await viewer(ws)
        await ws.disconnect()
        return seen

    assert run(body()) == {"username": "alice"}


def test_client_without_origin_cannot_use_a_session_cookie(alice: Any) -> None:
    _, cookie = session_cookie(alice)

    async def body() -> int:
        ws = communicator(origin=None, cookie=cookie)
        await init(ws)
        return await closed_with(ws)

    assert run(body()) == 4401, "a cookie is not a credential without a browser Origin"


def test_browser_with_a_foreign_origin_is_refused_at_the_handshake(alice: Any) -> None:
    _, cookie = session_cookie(alice)

    async def body() -> bool:
        ws = communicator(origin="https://evil.example", cookie=cookie)
        connected, _ = await ws.connect()
        await ws.disconnect()
        return connected

    assert run(body()) is False


def test_browser_with_our_origin_keeps_its_session(alice: Any) -> None:
    _, cookie = session_cookie(alice)

    async def body() -> Any:
        ws = communicator(origin="http://localhost", cookie=cookie)
        await init(ws)
        assert await receive(ws) == {"type": "connection_ack"}
        seen = await viewer(ws)
        await ws.disconnect()
        return seen

    assert run(body()) == {"username": "alice"}


def test_deleting_the_token_closes_its_open_socket(alice: Any) -> None:
    token_row, token = ApiToken.issue(alice)

    async def body() -> int:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        await database_sync_to_async(token_row.delete)()
        return await closed_with(ws)

    assert run(body()) == 4401


def test_logging_out_closes_the_sessions_socket(alice: Any) -> None:
    browser, cookie = session_cookie(alice)

    async def body() -> int:
        ws = communicator(origin="http://localhost", cookie=cookie)
        await init(ws)
        assert await receive(ws) == {"type": "connection_ack"}
        await sync_to_async(browser.post)("/accounts/logout/")
        return await closed_with(ws)

    assert run(body()) == 4401


def test_deactivating_the_user_closes_their_sockets(alice: Any) -> None:
    _, token = ApiToken.issue(alice)

    def deactivate() -> None:
        get_user_model().objects.filter(pk=alice.pk).update(is_active=False)  # no signal
        user = get_user_model().objects.get(pk=alice.pk)
        user.save()  # the admin's way: a saved, inactive user

    async def body() -> int:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        await database_sync_to_async(deactivate)()
        return await closed_with(ws)

    assert run(body()) == 4401


def test_real_server_serves_token_clients_and_closes_them_on_revocation(
    server: str, alice: Any
) -> None:
    token_row, token = ApiToken.issue(alice)

    async def body() -> tuple[Any, int | None]:
        # websockets sends no Origin unless told: a Node/Python API client.
        async with websockets.connect(f"ws://{server}/graphql", subprotocols=[SUBPROTOCOL]) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            await ws.send(
                json.dumps({"type": "subscribe", "id": "v", "payload": {"query": VIEWER}})
            )
            seen = json.loads(await ws.recv())["payload"]["data"]["viewer"]
            await database_sync_to_async(token_row.delete)()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            return seen, closed.value.rcvd.code if closed.value.rcvd else None

    assert run(body()) == ({"username": "alice"}, 4401)
