"""A delay-tier thread that crashes under a load of delayed jobs is
restarted, and every delayed job still runs.

The fault is a tier's forward raising, as a broken producer would; it is
injected inside the worker, so this worker runs in the test process (a
thread), not as its own process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.exceptions import PublishError
from taskqueue.transport import PublishHandle
from tests.taskqueue.rules.conftest import RunningWorker

from .harness import run_scenario

pytestmark = pytest.mark.timeout(300)

CRASHES = 3
"""Forwards that raise once the fault is armed: the tier restarts each time."""


def test_tier_threads_that_crash_under_load_are_restarted_and_strand_nothing(
    fapp: TaskQueue, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    transport = fapp.transport
    real_send = transport.send
    queue_topic = fapp.settings.topic("default")
    armed = threading.Event()
    crashes: list[str] = []

    def send(topic: str, value: bytes, *rest: Any) -> PublishHandle:
        in_tier = threading.current_thread().name.startswith("taskqueue-delay-")
        if in_tier and topic == queue_topic and armed.is_set() and len(crashes) < CRASHES:
            crashes.append(threading.current_thread().name)
            raise PublishError("injected: the producer refused the record")
        return real_send(topic, value, *rest)

    monkeypatch.setattr(transport, "send", send)
    logs = caplog.at_level(logging.ERROR, logger="taskqueue.delays")
    with logs, RunningWorker(fapp, concurrency=4):
        run_scenario(fapp, f"delay-tier thread crash ({CRASHES} times)", armed.set, countdown=0.3)
    assert len(crashes) == CRASHES, "the fault was not injected"
    restarts = [r for r in caplog.records if "restart" in r.getMessage()]
    assert len(restarts) >= CRASHES, [r.getMessage() for r in caplog.records]
