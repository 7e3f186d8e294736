"""Private instances of the stack's services, for tests that break them.

A fault test stops, restarts or freezes a service. Doing that to the shared
stack would hurt every other test, so such a test starts its own instance
with the stack's own service classes (``deploy/local/localstack``): its
state in a temporary folder, a free port, and the shared cache, so nothing
is downloaded or built again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from config.environment import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))

from localstack.service import Layout, Service  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def layout_in(home: Path) -> Layout:
    """A stack layout in ``home`` that shares the real stack's cache."""
    shared = Environment.from_env().stack_home
    cache = Path(os.environ.get("STACK_CACHE", str(shared / "cache")))
    return Layout(home=home, cache=cache)


class PrivateService:
    """One service of the stack, started for one test, that the test may break."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def port(self) -> int:
        return self.service.port

    def start(self) -> None:
        self.service.launch()
        self.service.wait_healthy()

    def stop(self) -> None:
        self.service.stop()

    def freeze(self) -> None:
        """SIGSTOP: the server hangs (accepts nothing, answers nothing)."""
        pid = self.service.pid()
        assert pid is not None, f"{self.service.name} is not running"
        os.killpg(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        pid = self.service.pid()
        assert pid is not None, f"{self.service.name} is not running"
        os.killpg(pid, signal.SIGCONT)


def forget_postgres_cluster(home: Path) -> None:
    """Delete the PostgreSQL cluster of the stack in ``home`` if it lives
    elsewhere (as root: in the `postgres` account's home, see postgres.py)."""
    from localstack.postgres import Postgres

    cluster = Postgres(layout_in(home), 0).home
    if not cluster.is_relative_to(home):
        shutil.rmtree(cluster, ignore_errors=True)


@contextmanager
def private_service(cls: type[Service], home: Path, **kwargs: Any) -> Iterator[PrivateService]:
    """Start ``cls`` (a localstack service class) on a free port; always stop it."""
    service = PrivateService(cls(layout_in(home), free_port(), **kwargs))
    service.start()
    try:
        yield service
    finally:
        if service.service.pid() is not None:
            service.thaw()  # a frozen process group ignores SIGTERM
        service.stop()
