"""The delivery rules, each tested twice with the same body: on the
in-memory transport and stores (``memory``, the fast tier, no services) and
on Kafka, Redis and MongoDB (``real``). The memory twins must behave like
the real services; running both is what shows they do.

Workers here run in this process (threads), so tasks can record their runs
in memory and tests can open gates the bodies wait on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.worker.main import Worker

from . import tasks

TIERS = "0.2,1"
"""Sub-second delay tiers: delays hop within a test's few seconds."""


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.fast), "real"])
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def rule_settings(unique_name: str, **overrides: Any) -> dict[str, Any]:
    """The settings every app of the delivery-rule tests shares."""
    return {
        "key_prefix": unique_name,
        "topic_prefix": f"{unique_name}.",
        "result_database": unique_name,
        "delay_tiers": TIERS,
        "partitions": 1,
        "control_enabled": False,
        "heartbeat_interval": 0.5,
        "shutdown_grace": 2,
        "state_ttl": 900,
        **overrides,
    }


@pytest.fixture
def rapp(stack: str, unique_name: str, request: pytest.FixtureRequest) -> Iterator[TaskQueue]:
    marker = request.node.get_closest_marker("rule_settings")
    common = rule_settings(unique_name, **(marker.kwargs if marker else {}))
    if stack == "memory":
        app = TaskQueue(
            "rules", broker_url="memory://", redis_url="memory://", mongo_url="memory://", **common
        )
    else:
        kafka = request.getfixturevalue("kafka_bootstrap")
        app = TaskQueue(
            "rules",
            broker_url=f"kafka://{kafka}",
            redis_url=request.getfixturevalue("redis_url"),
            mongo_url=request.getfixturevalue("mongo_url"),
            # A closed consumer's partitions move at once; a lost one soon.
            kafka_consumer_options=json.dumps(
                {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
            ),
            **common,
        )
    tasks.register(app)
    app.declare_topics(["default"])
    yield app
    app.close()


class RunningWorker:
    """A worker in a thread of this process, stopped warm on exit."""

    def __init__(
        self,
        app: TaskQueue,
        group: str | None = None,
        concurrency: int = 2,
        queues: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.app = app
        self.worker = Worker(
            app,
            queues=queues,
            concurrency=concurrency,
            name=name or f"w-{group or 'main'}",
            group_id=group,
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self.worker.run, kwargs={"ready": self._ready.set}, daemon=True
        )

    def __enter__(self) -> RunningWorker:
        self._thread.start()
        assert self._ready.wait(60), "worker did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self._thread.join(60)
        assert not self._thread.is_alive(), "worker did not stop"


@pytest.fixture
def worker(rapp: TaskQueue) -> Callable[..., RunningWorker]:
    return lambda **kw: RunningWorker(rapp, **kw)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")


def state_of(app: TaskQueue, job_id: str) -> str:
    return app.AsyncResult(job_id).state


def read_topic(app: TaskQueue, topic: str, count: int, timeout: float = 30.0) -> list[Any]:
    """The first ``count`` records of a topic, read through the transport."""
    import time
    import uuid

    consumer = app.transport.consumer([topic], f"reader-{uuid.uuid4().hex}", 10_000)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            records += consumer.poll(100, 0.2)
    finally:
        consumer.close()
    return records
