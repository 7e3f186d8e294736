"""Tasks of the delivery-policy tests; workers load this with ``-A``.

Extends ``tasks_app`` (same settings from ``TASKQUEUE_*`` variables) with
tasks that exercise retries, time limits, rate limits and canvas. Each task
records its runs in Redis (``<key_prefix>:runs:<tag>``): the tests' evidence.
"""

from __future__ import annotations

import os
import time
from typing import Any

from taskqueue import Task, TaskQueue
from taskqueue.exceptions import SoftTimeLimitExceeded

from .tasks_app import register

APP = __name__
"""What workers of the policy tests load with ``-A``."""


def runs(app: TaskQueue, tag: str) -> list[str]:
    """What :func:`mark` recorded under ``tag``, oldest first."""
    raw = app.state_backend.client.lrange(f"{app.settings.key_prefix}:runs:{tag}", 0, -1)
    return [x.decode() for x in raw]  # type: ignore[union-attr]


def mark(app: TaskQueue, tag: str, value: str | None = None) -> None:
    key = f"{app.settings.key_prefix}:runs:{tag}"
    pipe = app.state_backend.client.pipeline()
    pipe.rpush(key, value if value is not None else str(os.getpid()))
    pipe.expire(key, 900)
    pipe.execute()


def register_policies(app: TaskQueue) -> dict[str, Task]:
    """Register the policy tasks (and, unless done already, ``tasks_app``'s)."""
    tasks = register(app) if "t.add" not in app.tasks else {}

    @app.task(name="p.record")
    def record(tag: str) -> str:
        mark(app, tag)
        return tag

    @app.task(
        name="p.backoff",
        autoretry_for=(ConnectionError,),
        max_retries=2,
        retry_backoff=1,
        retry_jitter=False,
    )
    def backoff(tag: str) -> None:
        mark(app, tag)
        raise ConnectionError(f"{tag} is down")

    @app.task(name="p.soft", soft_time_limit=0.5)
    def soft(tag: str) -> str:
        try:
            for _ in range(600):
                time.sleep(0.05)
        except SoftTimeLimitExceeded:
            mark(app, f"{tag}:caught")
            return "cleaned up"
        return "finished"

    @app.task(name="p.hard", time_limit=0.5)
    def hard(tag: str) -> str:
        mark(app, tag)
        try:
            for _ in range(600):
                time.sleep(0.05)
        except Exception:  # noqa: BLE001 - the test shows a hard limit is not an Exception
            mark(app, f"{tag}:swallowed")
        mark(app, f"{tag}:finished")
        return "finished"

    @app.task(name="p.steps", bind=True)
    def steps(self: Task, tag: str, n: int, pause: float) -> int:
        mark(app, tag)
        for i in range(n):
            self.progress(i + 1, n)
            time.sleep(pause)
        mark(app, f"{tag}:done")
        return n

    @app.task(name="p.limited", rate_limit="1/h")
    def limited(tag: str) -> str:
        mark(app, "limited", tag)
        return tag

    @app.task(name="p.queued")
    def queued(tag: str, pause: float) -> str:
        time.sleep(pause)
        mark(app, "order", tag)
        return tag

    @app.task(name="p.square")
    def square(x: int, pause: float = 0.0) -> int:
        time.sleep(pause)
        return x * x

    @app.task(name="p.total")
    def total(values: list[Any], tag: str) -> int:
        mark(app, tag)
        return sum(values)

    return {**tasks, **{t.name: t for t in app.tasks.values() if t.name.startswith("p.")}}


app = TaskQueue("tests.taskqueue.policies")
tasks = register_policies(app)
app.beat_schedule = {"every-second": {"task": "p.record", "schedule": 1.0, "args": ["beat"]}}
