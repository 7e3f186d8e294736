"""Fixtures of the provider tests: the offline sandbox on a free port, over real HTTP.

The sandbox runs in this process, in a background thread; the clients reach
it through real sockets with real httpx clients (nothing is patched).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from providers.http import ClientPool
from providers.sandbox import SandboxServer
from providers.settings import ProviderSettings

CLIENT_TIMEOUT = 1.0
"""Read timeout in tests: far above a sandbox answer, far below SLOW_SECONDS."""

SLOW_SECONDS = 5.0
"""How late the sandbox's ``slow`` answers come in tests."""


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(slow_seconds=SLOW_SECONDS).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox_settings(sandbox: SandboxServer, settings: object) -> ProviderSettings:
    """Django's ``settings.PROVIDERS`` pointed at the sandbox for this test."""
    config = ProviderSettings.for_sandbox(
        sandbox.url, timeout=CLIENT_TIMEOUT, connect_timeout=CLIENT_TIMEOUT
    )
    settings.PROVIDERS = config  # type: ignore[attr-defined]
    return config


@pytest.fixture
def pool() -> Iterator[ClientPool]:
    """A private connection pool, closed after the test."""
    pool = ClientPool()
    yield pool
    pool.close()


@pytest.fixture
def key() -> str:
    """A fresh suffix for a trigger, so "once" failures are this test's own."""
    return uuid.uuid4().hex[:8]


class Progress:
    """Records ``progress(current, total, message)`` calls."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, str]] = []

    def __call__(self, current: int, total: int, message: str) -> None:
        self.events.append((current, total, message))

    @property
    def last(self) -> tuple[int, int, str]:
        return self.events[-1]


@pytest.fixture
def progress() -> Progress:
    return Progress()
