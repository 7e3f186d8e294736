"""Fixtures of the Celery-compatibility tests: Celery's documented examples
run with only the import changed.

``capp`` is an app on the in-memory transport and stores (fast tier); a
test parametrized with :data:`BOTH_STACKS` runs once more on Kafka, Redis
and MongoDB. ``worker`` runs a real worker in a thread of this process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.worker.main import Worker

from .tasks import register

BOTH_STACKS = pytest.mark.parametrize(
    "stack", [pytest.param("memory", marks=pytest.mark.fast), "real"], indirect=True
)
"""Run a test on the in-memory twins (fast tier) and on the real services."""


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "memory"))


@pytest.fixture
def capp(stack: str, unique_name: str, request: pytest.FixtureRequest) -> Iterator[TaskQueue]:
    common: dict[str, Any] = {
        "key_prefix": unique_name,
        "topic_prefix": f"{unique_name}.",
        "result_database": unique_name,
        "partitions": 1,
        "control_enabled": False,
        "shutdown_grace": 2,
        "state_ttl": 900,
    }
    if stack == "memory":
        app = TaskQueue(
            "compat", broker_url="memory://", redis_url="memory://", mongo_url="memory://", **common
        )
    else:
        app = TaskQueue(
            "compat",
            broker_url=f"kafka://{request.getfixturevalue('kafka_bootstrap')}",
            redis_url=request.getfixturevalue("redis_url"),
            mongo_url=request.getfixturevalue("mongo_url"),
            kafka_consumer_options=json.dumps(
                {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
            ),
            **common,
        )
    app.declare_topics(["default"])
    yield app
    if stack == "real":
        app.result_store.drop()
    app.close()


@pytest.fixture
def tasks(capp: TaskQueue) -> dict[str, Any]:
    return register(capp)


@pytest.fixture
def worker(capp: TaskQueue, tasks: dict[str, Any]) -> Iterator[Worker]:
    """A worker of ``capp`` in a thread, stopped warm at the end of the test."""
    running = Worker(capp, concurrency=4, name="compat-worker")
    ready = threading.Event()
    thread = threading.Thread(target=running.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(60), "worker did not start"
    yield running
    running.stop()
    thread.join(60)
    assert not thread.is_alive(), "worker did not stop"
