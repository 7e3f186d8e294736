"""Fixtures of the jobs tests: people, an isolated taskqueue app, a real worker,
the provider sandbox, and a GraphQL helper for Django's test client.

Isolation: each test gets its own topic prefix, Redis key prefix and Mongo
database (``unique_name``). The worker subprocess opens the *test* database
(a file, see ``DATABASES["default"]["TEST"]`` in settings) through
``DATABASE_URL``, so tests that need it use ``django_db(transaction=True)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from config.environment import PROJECT_ROOT
from jobs.taskapp import QUEUES, use_app
from providers.sandbox.server import SandboxServer
from taskqueue import TaskQueue
from taskqueue.contrib.django import django_app
from tests.support.servers import stop  # noqa: F401 - re-exported for the jobs tests

GQL = Callable[..., dict[str, Any]]


@pytest.fixture
def alice() -> Any:
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob() -> Any:
    return get_user_model().objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def staff() -> Any:
    return get_user_model().objects.create_superuser("root", password="pw-root-123")


@pytest.fixture
def gql(client: Any) -> GQL:
    """POST a GraphQL operation as the client's session; returns the JSON body."""

    def call(query: str, variables: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        response = client.post(
            "/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            **headers,
        )
        assert response.status_code in (200, 400), response.content[:500]
        return response.json()

    return call


@pytest.fixture
def isolation(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str
) -> dict[str, str]:
    """Environment that gives subprocesses this test's topics, keys and database."""
    return {
        "TASKQUEUE_TOPIC_PREFIX": f"{unique_name}.",
        "TASKQUEUE_KEY_PREFIX": unique_name,
        "TASKQUEUE_RESULT_DATABASE": unique_name,
        "TASKQUEUE_PARTITIONS": "2",
    }


@pytest.fixture
def jobs_app(isolation: dict[str, str]) -> Iterator[TaskQueue]:
    """An isolated app with the queue topics created, used by the jobs layer."""
    app = django_app(
        "jobs-test",
        topic_prefix=isolation["TASKQUEUE_TOPIC_PREFIX"],
        key_prefix=isolation["TASKQUEUE_KEY_PREFIX"],
        result_database=isolation["TASKQUEUE_RESULT_DATABASE"],
        partitions=2,
    )
    app.declare_topics(list(QUEUES))
    with use_app(app):
        yield app
    app.result_store.drop()
    app.close()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(slow_seconds=3.0).start()
    yield server
    server.stop()


@pytest.fixture
def subprocess_env(isolation: dict[str, str], sandbox: SandboxServer) -> dict[str, str]:
    """What a worker or server subprocess needs: isolation, the test DB, the sandbox."""
    name = connection.settings_dict["NAME"]
    assert str(name) != ":memory:" and "mode=memory" not in str(name), name
    return {
        **os.environ,
        **isolation,
        "DATABASE_URL": f"sqlite:///{name}",
        "PROVIDERS_SANDBOX_URL": sandbox.url,
        "PROVIDERS_TIMEOUT": "5",
        "DEBUG": "true",
    }


def wait_for_line(proc: subprocess.Popen, log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"{text!r} not seen; log:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def worker(subprocess_env: dict[str, str], jobs_app: TaskQueue, tmp_path: Path) -> Iterator[Path]:
    """A real `manage.py worker` on all three queues; yields its log file."""
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--queues", ",".join(QUEUES), "-c", "4"],
            cwd=PROJECT_ROOT,
            env=subprocess_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_line(proc, log, "ready", 60)
    yield log
    stop(proc)


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, log: Path | None = None
) -> Any:
    """Poll until ``predicate()`` is truthy (returns it) or fail with ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")
