"""The local stack's commands, run against a second, isolated stack.

The isolated stack has its own home folder and free ports, so starting and
stopping it never touches the services the rest of the suite is using. It
shares the download cache, so nothing is fetched or built twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.environment import PROJECT_ROOT, Environment
from tests.support.private_services import forget_postgres_cluster

STACK = PROJECT_ROOT / "deploy" / "local" / "stack"
SERVICES = ("kafka", "redis", "rabbitmq", "postgres", "mongo")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class IsolatedStack:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.ports = {
            "KAFKA_PORT": _free_port(),
            "KAFKA_CONTROLLER_PORT": _free_port(),
            "REDIS_PORT": _free_port(),
            "RABBITMQ_PORT": _free_port(),
            "RABBITMQ_DIST_PORT": _free_port(),
            "POSTGRES_PORT": _free_port(),
            "MONGO_PORT": _free_port(),
        }
        shared_cache = Environment.from_env().stack_home / "cache"
        self.env = {
            **os.environ,
            **{k: str(v) for k, v in self.ports.items()},
            "STACK_HOME": str(home),
            "STACK_CACHE": str(shared_cache),
        }

    def port(self, service: str) -> int:
        return self.ports[f"{service.upper()}_PORT"]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(STACK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def pid(self, service: str) -> int:
        return int((self.home / "run" / f"{service}.pid").read_text().split()[0])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[IsolatedStack]:
    isolated = IsolatedStack(tmp_path / "stack")
    yield isolated
    isolated.run("down")
    forget_postgres_cluster(isolated.home)


@pytest.mark.slow
def test_up_twice_status_down(stack: IsolatedStack) -> None:
    first = stack.run("up")
    assert first.returncode == 0, first.stderr
    pids = {s: stack.pid(s) for s in SERVICES}

    second = stack.run("up")
    assert second.returncode == 0, second.stderr
    assert {s: stack.pid(s) for s in SERVICES} == pids, "a second `up` must not restart anything"
    for service in SERVICES:
        assert f"{service}: already running" in second.stderr

    status = stack.run("status")
    assert status.returncode == 0, status.stdout
    for service in SERVICES:
        line = next(li for li in status.stdout.splitlines() if li.startswith(service))
        assert "running" in line and str(pids[service]) in line and str(stack.port(service)) in line

    down = stack.run("down")
    assert down.returncode == 0, down.stderr
    for service in SERVICES:
        assert not _listening(stack.port(service)), f"{service} still listens after down"
    after = stack.run("status")
    assert after.returncode == 1
    assert all(f"{s:<10} stopped" in after.stdout for s in SERVICES), after.stdout


def test_status_tells_a_crashed_service_apart(stack: IsolatedStack) -> None:
    assert stack.run("up", "redis").returncode == 0
    os.kill(stack.pid("redis"), signal.SIGKILL)
    status = stack.run("status", "redis")
    assert status.returncode == 1
    assert "stopped" in status.stdout


def test_port_taken_by_another_process_is_named(stack: IsolatedStack) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.port("redis")))
        squatter.listen()
        result = stack.run("up", "redis")
    assert result.returncode == 2
    assert f"redis: port {stack.port('redis')} is already in use" in result.stderr


def test_logs_and_unknown_service(stack: IsolatedStack) -> None:
    assert stack.run("up", "redis").returncode == 0
    logs = stack.run("logs", "redis", "-n", "5")
    assert logs.returncode == 0 and "Ready to accept connections" in logs.stdout
    unknown = stack.run("up", "zookeeper")
    assert unknown.returncode == 2 and "unknown service zookeeper" in unknown.stderr
