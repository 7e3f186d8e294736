"""Starting the site's ASGI server as a subprocess, for tests over real HTTP
and websockets (one piece for the jobs, progress and other suites)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from config.environment import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if the process does not leave in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def daphne(env: dict[str, str], log: Path, start_timeout: float = 30) -> Iterator[int]:
    """daphne serving config.asgi (HTTP + websockets) on a free port; yields the port
    once the site answers, and fails the test with daphne's log if it never does."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["config.asgi:application"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/accounts/csrf/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"daphne did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield port
    finally:
        stop(proc)
