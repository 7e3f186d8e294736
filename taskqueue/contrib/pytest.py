"""pytest fixtures for projects that use taskqueue, as Celery's ``celery.contrib.pytest``.

Enable them in the project's top-level ``conftest.py``::

    pytest_plugins = ["taskqueue.contrib.pytest"]

``tq_app`` is a fresh app per test on the in-memory transport and stores
(``broker_url``, ``redis_url`` and ``mongo_url`` all ``memory://``): no
Kafka, Redis or MongoDB, nothing shared between tests, and no
``TASKQUEUE_*`` environment variable leaking in. ``tq_worker`` runs a real
worker of that app in a thread for the test's duration, so
``task.delay(...).get(timeout=10)`` goes through publish, the poll loop,
the pool and the result store as in production::

    def test_add(tq_app, tq_worker):
        @tq_app.task
        def add(x, y):
            return x + y

        assert add.delay(4, 4).get(timeout=10) == 8

Configure them as Celery's are, by overriding fixtures (names are Celery's
with ``celery_`` replaced by ``tq_``):

``tq_config``
    settings over the test defaults, e.g. ``{"always_eager": True}`` to run
    every call, chain and chord inline (``.get()`` returns at once).
``tq_parameters``
    other ``TaskQueue(...)`` arguments (``main``, ``middleware``).
``tq_worker_parameters``
    ``Worker(...)`` arguments (``queues``, ``concurrency``, ``pool``).

One test may change settings with a marker: ``@pytest.mark.tq(always_eager=True)``.
Tasks may be defined after the worker started (it finds a task by name
when a job arrives) as long as their queue is one it serves;
``tq_worker.reload()``, Celery's call for that case, checks it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from taskqueue.app import TaskQueue
from taskqueue.exceptions import ConfigurationError
from taskqueue.worker.main import Worker

TEST_SETTINGS: dict[str, Any] = {
    "broker_url": "memory://",
    "redis_url": "memory://",
    "mongo_url": "memory://",
    "partitions": 1,
    "control_enabled": False,
    "metrics_port": 0,
    "beat_metrics_port": 0,
    "health_port": 0,
    "malloc_arenas": 0,
    "shutdown_grace": 5,
}
"""What ``tq_app`` runs on unless ``tq_config`` says otherwise: in memory,
and no port opened or process-wide setting changed by the worker thread."""

WORKER_START_TIMEOUT = 30.0
"""Seconds ``tq_worker`` waits for the worker to be ready (in memory: well under one)."""

MARKER = "tq"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**settings): settings of this test's tq_app (taskqueue)"
    )


@pytest.fixture(scope="session")
def tq_config() -> dict[str, Any]:
    """Settings of ``tq_app`` over :data:`TEST_SETTINGS`; override to change them."""
    return {}


@pytest.fixture(scope="session")
def tq_parameters() -> dict[str, Any]:
    """Other arguments of ``TaskQueue(...)`` (``main``, ``middleware``...)."""
    return {}


@pytest.fixture(scope="session")
def tq_worker_parameters() -> dict[str, Any]:
    """Arguments of the ``tq_worker`` ``Worker(...)`` (``queues``, ``concurrency``...)."""
    return {}


@pytest.fixture
def tq_app(
    tq_config: dict[str, Any], tq_parameters: dict[str, Any], request: pytest.FixtureRequest
) -> Iterator[TaskQueue]:
    """A fresh app on the in-memory transport and stores, closed after the test."""
    marked: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        marked.update(marker.kwargs)  # the closest marker wins
    parameters = {"main": "tq_test", "env": {}, **tq_parameters}
    app = TaskQueue(**parameters, **{**TEST_SETTINGS, **tq_config, **marked})
    yield app
    app.close()


class TestWorker(Worker):
    """The worker ``tq_worker`` runs, with Celery's ``reload()``."""

    __test__ = False  # a fixture's class, not tests for pytest to collect

    def reload(self) -> None:
        """Check that this worker serves the queue of every task defined so far."""
        missing = sorted(set(self.app.queues()) - set(self.queues))
        if missing:
            raise ConfigurationError(
                f"tq_worker does not serve queue(s) {', '.join(missing)}: name every queue "
                "in the tq_worker_parameters fixture, e.g. {'queues': ['default', ...]}"
            )


@pytest.fixture
def tq_worker(tq_app: TaskQueue, tq_worker_parameters: dict[str, Any]) -> Iterator[TestWorker]:
    """A worker of ``tq_app`` in a thread, ready when the test starts, stopped after."""
    parameters = {"concurrency": 2, "name": "tq_worker", **tq_worker_parameters}
    worker = TestWorker(tq_app, **parameters)
    ready = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(ready=ready.set)
        except BaseException as exc:  # shown to the test instead of a silent thread death
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="tq_worker", daemon=True)
    thread.start()
    if not ready.wait(WORKER_START_TIMEOUT) or failed:
        worker.stop()
        raise RuntimeError(f"tq_worker did not start: {failed[0] if failed else 'timed out'}")
    yield worker
    worker.stop()
    thread.join(tq_app.settings.shutdown_grace + WORKER_START_TIMEOUT)
    if thread.is_alive():
        raise RuntimeError("tq_worker did not stop")
    if failed:
        raise failed[0]
