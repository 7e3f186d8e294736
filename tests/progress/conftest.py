"""Fixtures of the live-progress tests: the jobs tests' people, isolated app,
real worker and sandbox, plus helpers for websocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from channels.testing import WebsocketCommunicator

from tests.jobs.conftest import (  # noqa: F401 - fixtures shared with the jobs tests
    alice,
    bob,
    gql,
    isolation,
    jobs_app,
    sandbox,
    staff,
    stop,
    subprocess_env,
    wait_for,
    worker,
)
from tests.support.servers import daphne, free_port  # noqa: F401 - free_port for the suites

T = TypeVar("T")
SUBPROTOCOL = "graphql-transport-ws"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one async test body on a fresh loop (no pytest-asyncio needed)."""
    return asyncio.run(coro)


def communicator(
    subprotocols: list[str] | None = None, cookie: str | None = None
) -> WebsocketCommunicator:
    from config.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(
        application,
        "/graphql",
        headers=headers,
        subprotocols=[SUBPROTOCOL] if subprotocols is None else subprotocols,
    )


async def send(ws: WebsocketCommunicator, kind: str, **fields: Any) -> None:
    await ws.send_to(text_data=json.dumps({"type": kind, **fields}))


async def receive(ws: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await ws.receive_from(timeout))


async def closed_with(ws: WebsocketCommunicator, timeout: float = 10) -> int:
    """The close code the server sent (fails if it sent a message instead)."""
    output = await ws.receive_output(timeout)
    assert output["type"] == "websocket.close", output
    await ws.disconnect()
    return output.get("code", 1000)


@pytest.fixture
def server(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """daphne serving config.asgi (HTTP + websockets) on a free port; yields host:port."""
    with daphne(subprocess_env, tmp_path / "daphne.log") as port:
        yield f"127.0.0.1:{port}"
