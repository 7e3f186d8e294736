"""``manage.py provider_sandbox`` serves the sandbox until stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_command_serves_every_api_on_the_given_port() -> None:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "provider_sandbox", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("provider sandbox at http://127.0.0.1:"), proc.stderr
        url = first.rsplit(" ", 1)[-1]
        assert proc.stdout.readline().strip() == f"use it with PROVIDERS_SANDBOX_URL={url}"
        health = httpx.get(f"{url}/_sandbox/health").json()
        assert health["apis"] == ["/forecast", "/frankfurter", "/geocoding", "/github", "/quotable"]
        repo = httpx.get(f"{url}/github/repos/octocat/Hello-World").json()
        assert repo["full_name"] == "octocat/Hello-World"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_command_reports_a_taken_port() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "provider_sandbox", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
