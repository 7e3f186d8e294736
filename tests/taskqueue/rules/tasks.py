"""Tasks of the delivery-rules suite. Every run is recorded in-process
(the workers of this suite are threads of the test process), keyed by the
app's key prefix so tests never see each other's runs."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from taskqueue import TaskQueue

Run = tuple[str, tuple[Any, ...], int, float]
"""(task, args, attempt, epoch seconds when the body started)."""

RUNS: dict[str, list[Run]] = defaultdict(list)
"""key_prefix -> every body that started."""

GATES: dict[str, threading.Event] = defaultdict(threading.Event)
"""A body named ``hold`` waits for the gate of its first argument."""

_lock = threading.Lock()


def runs(app: TaskQueue, task: str | None = None) -> list[Run]:
    with _lock:
        every = list(RUNS[app.settings.key_prefix])
    return [r for r in every if task is None or r[0] == task]


def register(app: TaskQueue) -> None:
    prefix = app.settings.key_prefix

    def record(name: str, args: tuple[Any, ...], attempt: int) -> None:
        with _lock:
            RUNS[prefix].append((name, args, attempt, time.time()))

    @app.task(name="rules.add", bind=True)
    def add(self: Any, x: int, y: int) -> int:
        record("rules.add", (x, y), self.request.retries)
        return x + y

    @app.task(name="rules.hold", bind=True)
    def hold(self: Any, gate: str) -> str:
        record("rules.hold", (gate,), self.request.retries)
        if not GATES[gate].wait(60):
            raise TimeoutError(f"gate {gate} never opened")
        return gate

    @app.task(name="rules.flaky", bind=True, max_retries=2, default_retry_delay=0.2)
    def flaky(self: Any, label: str) -> None:
        record("rules.flaky", (label,), self.request.retries)
        raise self.retry(exc=RuntimeError(f"{label} failed"))

    @app.task(name="rules.total", bind=True)
    def total(self: Any, values: list[int]) -> int:
        record("rules.total", (tuple(values),), self.request.retries)
        return sum(values)

    @app.task(name="rules.sleepy", bind=True, time_limit=0.5)
    def sleepy(self: Any, seconds: float) -> None:
        record("rules.sleepy", (seconds,), self.request.retries)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # Python code: the limit interrupts it
            time.sleep(0.01)

    @app.task(name="rules.spin", bind=True)
    def spin(self: Any, seconds: float) -> None:
        """No time limit of its own: only the default deadline stops it."""
        record("rules.spin", (seconds,), self.request.retries)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
