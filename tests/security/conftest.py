"""Fixtures of the security tests: the jobs tests' people and real services,
the websocket helpers of the progress tests, and a fresh login-attempt count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.conftest import (  # noqa: F401 - fixtures shared with the jobs tests
    alice,
    bob,
    gql,
    isolation,
    jobs_app,
    sandbox,
    staff,
    subprocess_env,
)
from tests.support.servers import daphne


@pytest.fixture
def server(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """daphne serving config.asgi (HTTP + websockets) on a free port; yields host:port."""
    with daphne(subprocess_env, tmp_path / "daphne.log") as port:
        yield f"127.0.0.1:{port}"
