"""Tasks used by the integration tests; workers load this with ``-A``.

The module-level app reads its settings from ``TASKQUEUE_*`` environment
variables, which each test sets for its worker subprocesses (unique topic
prefix, Redis key prefix and Mongo database). Tests build their own app with
the same settings and the same tasks through :func:`register`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from taskqueue import Task, TaskQueue


def register(app: TaskQueue) -> dict[str, Task]:
    runs_key = f"{app.settings.key_prefix}:runs"

    def mark(tag: str) -> None:
        # Which process ran what, and how often: the tests' evidence.
        key = f"{runs_key}:{tag}"
        pipe = app.state_backend.client.pipeline()
        pipe.rpush(key, f"{os.getpid()}")
        pipe.expire(key, 900)
        pipe.execute()

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="t.noop")
    def noop() -> None:
        return None

    @app.task(name="t.fail", max_retries=0)
    def fail(message: str) -> None:
        raise ValueError(message)

    @app.task(name="t.slow")
    def slow(tag: str, seconds: float) -> str:
        mark(tag)
        time.sleep(seconds)
        mark(f"{tag}:done")
        return tag

    @app.task(name="t.progress", bind=True)
    def progress(self: Task, steps: int) -> int:
        for i in range(1, steps + 1):
            self.progress(i, steps, f"step {i}")
        return steps

    @app.task(name="t.flaky", bind=True, max_retries=5)
    def flaky(self: Task, succeed_on: int) -> int:
        if self.request.retries < succeed_on:
            raise self.retry(exc=RuntimeError(f"attempt {self.request.retries}"), countdown=0.1)
        return self.request.retries

    @app.task(name="t.request", bind=True)
    def request(self: Task, queue: str = "", countdown: int = 0) -> dict[str, Any]:
        # Argument names that are also option names: they must arrive as arguments.
        r = self.request
        return {
            "id": r.id,
            "retries": r.retries,
            "queue": r.queue,
            "arg_queue": queue,
            "arg_countdown": countdown,
            "delivery": r.delivery_info,
            "redelivered": r.redelivered,
            "root_id": r.root_id,
        }

    @app.task(name="t.matrix")
    def matrix(rows: list[list[int]]) -> list[list[int]]:
        return [[v * 2 for v in row] for row in rows]

    @app.task(name="t.chained")
    def chained(value: int, extra: int) -> int:
        return value + extra

    return {t.name.split(".", 1)[1]: t for t in app.tasks.values()}


app = TaskQueue("tests.taskqueue")
tasks = register(app)
