"""Tasks of the fault suite; its worker processes load this with ``-A``.

Settings come from ``TASKQUEUE_*`` variables (the suite's ``rel_env``). The
load task records every execution in Redis, keyed by job id, so a scenario
counts duplicate executions across processes and pool children (and which
process ran which job, for the jobs a killed worker had started); the
integration tests' tasks (``tasks_app``, ``child_tasks``) are registered too,
for the faults they already know how to cause.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from taskqueue import Task, TaskQueue
from tests.taskqueue.child_tasks import register_child_tasks

APP = __name__
"""What the suite's workers load with ``-A``."""

KEY_TTL = 900
"""Seconds the evidence keys live: long after a scenario, never forever."""

OVER_MESSAGE = 1_500_000
"""Characters of a result under ``result_max_bytes`` (4 MB) whose follow-up,
carrying it as an argument, is over ``max_message_bytes`` (1 MB)."""


EVIDENCE_ENV = "RELIABILITY_EVIDENCE_REDIS_URL"
"""A Redis URL for the evidence below, for scenarios whose fault is the
app's own Redis (a private one, restarted); unset: the app's state store.
Workers and the test process must both see it."""

_evidence_clients: dict[str, redis.Redis] = {}


def evidence(app: TaskQueue) -> redis.Redis:
    """The Redis client that bodies record in and the harness reads."""
    url = os.environ.get(EVIDENCE_ENV)
    if not url:
        return app.state_backend.client  # type: ignore[attr-defined, no-any-return]
    if url not in _evidence_clients:
        _evidence_clients[url] = redis.Redis.from_url(url)
    return _evidence_clients[url]


def executions_key(app: TaskQueue) -> str:
    """Hash: job id -> how many times a body started."""
    return f"{app.settings.key_prefix}:rel:executions"


def finished_key(app: TaskQueue) -> str:
    """List: epoch seconds at which each body returned."""
    return f"{app.settings.key_prefix}:rel:finished"


def running_key(app: TaskQueue) -> str:
    """Hash: job id -> pid of the process running its body now."""
    return f"{app.settings.key_prefix}:rel:running"


def ran_by_key(app: TaskQueue, pid: int) -> str:
    """Set: ids of the jobs whose body started in process ``pid`` (which jobs
    a worker had started when it was killed)."""
    return f"{app.settings.key_prefix}:rel:ran-by:{pid}"


STEP_SECONDS = 0.2
"""How long a workflow step (``rel.add``) runs: long enough for a kill to
land while steps run, short enough for chains of 5 to finish in seconds."""


def started(app: TaskQueue, job_id: str | None) -> None:
    """A body started: count it, and note the process running it (``job_id``
    is the body's ``self.request.id``, always set on a worker)."""
    assert job_id is not None
    executions, running = executions_key(app), running_key(app)
    ran_by = ran_by_key(app, os.getpid())
    pipe = evidence(app).pipeline()
    pipe.hincrby(executions, job_id, 1)
    pipe.hset(running, job_id, os.getpid())
    pipe.sadd(ran_by, job_id)
    for key in (executions, running, ran_by):
        pipe.expire(key, KEY_TTL)
    pipe.execute()


def ended(app: TaskQueue, job_id: str | None) -> None:
    """A body returned."""
    assert job_id is not None
    finished = finished_key(app)
    pipe = evidence(app).pipeline()
    pipe.hdel(running_key(app), job_id)
    pipe.rpush(finished, repr(time.time()))
    pipe.expire(finished, KEY_TTL)
    pipe.execute()


def register_reliability(app: TaskQueue) -> dict[str, Task]:
    """Register the suite's tasks (and the integration tests' ones)."""
    if "c.always_dies" not in app.tasks:
        register_child_tasks(app)

    @app.task(name="rel.work", bind=True)
    def work(self: Task, i: int, seconds: float) -> int:
        started(app, self.request.id)
        time.sleep(seconds)
        ended(app, self.request.id)
        return i

    @app.task(name="rel.value", bind=True)
    def value(self: Task, kind: str) -> Any:
        started(app, self.request.id)
        ended(app, self.request.id)
        if kind == "wide-int":
            return 2**64
        if kind == "huge":
            return "x" * (app.settings.result_max_bytes + 1)
        if kind == "over-message":
            return "y" * OVER_MESSAGE
        raise ValueError(kind)

    @app.task(name="rel.add", bind=True)
    def add(self: Task, x: int, y: int) -> int:
        """A step of the suite's chains and a member of its chords."""
        started(app, self.request.id)
        time.sleep(STEP_SECONDS)
        ended(app, self.request.id)
        return x + y

    @app.task(name="rel.total", bind=True)
    def total(self: Task, values: list[int]) -> int:
        """A chord's callback: the sum of its members' results."""
        started(app, self.request.id)
        ended(app, self.request.id)
        return sum(values)

    @app.task(name="rel.hang", bind=True)
    def hang(self: Task) -> None:
        """No time limit of its own: only the processing deadline stops it."""
        started(app, self.request.id)
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            time.sleep(0.01)

    return {t.name: t for t in app.tasks.values() if t.name.startswith("rel.")}


app = TaskQueue("tests.reliability")
tasks = register_reliability(app)
