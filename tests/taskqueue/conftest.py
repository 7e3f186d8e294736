"""Fixtures of the taskqueue tests: an isolated app per test, real workers.

Each test gets its own topic prefix, Redis key prefix and Mongo database
(from ``unique_name``), passed to worker subprocesses as ``TASKQUEUE_*``
environment variables, so tests never see each other's jobs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from taskqueue import TaskQueue

from .tasks_app import register

ROOT = Path(__file__).resolve().parents[2]


def memory_app(name: str, unique_name: str, **settings: object) -> TaskQueue:
    """An app on the in-memory transport and stores, with the test's own names."""
    return TaskQueue(
        name,
        broker_url="memory://",
        redis_url="memory://",
        mongo_url="memory://",
        key_prefix=unique_name,
        topic_prefix=f"{unique_name}.",
        result_database=unique_name,
        **settings,
    )


@pytest.fixture
def tq_env(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str
) -> dict[str, str]:
    return isolated_env(unique_name, kafka_bootstrap, redis_url, mongo_url)


def isolated_env(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str
) -> dict[str, str]:
    """Settings of a test's app and its worker processes: its own names."""
    return {
        "TASKQUEUE_BROKER_URL": f"kafka://{kafka_bootstrap}",
        "TASKQUEUE_REDIS_URL": redis_url,
        "TASKQUEUE_MONGO_URL": mongo_url,
        "TASKQUEUE_RESULT_DATABASE": unique_name,
        "TASKQUEUE_TOPIC_PREFIX": f"{unique_name}.",
        "TASKQUEUE_KEY_PREFIX": unique_name,
        "TASKQUEUE_PARTITIONS": "3",
        # Keys left behind expire soon; cleanup never scans the keyspace.
        "TASKQUEUE_STATE_TTL": "900",
        "TASKQUEUE_SHUTDOWN_GRACE": "20",
        "TASKQUEUE_HEARTBEAT_INTERVAL": "1",
        # Small session timeout: a SIGKILLed worker's partitions move in seconds.
        "TASKQUEUE_KAFKA_CONSUMER_OPTIONS": json.dumps(
            {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
        ),
    }


@pytest.fixture
def app(tq_env: dict[str, str]) -> Iterator[TaskQueue]:
    application = TaskQueue("tests", env=tq_env)
    register(application)
    application.declare_topics(["default", "high"])
    yield application
    try:
        cleanup(application)
    finally:
        application.close()


def cleanup(application: TaskQueue) -> None:
    """Delete the test's Mongo database. Its topics go at the end of the run,
    all at once (``kafka_bootstrap`` in tests/conftest.py): waiting for each
    test's deletion doubled the suite's run time. Its Redis keys expire by
    themselves (short TTL): scanning a shared keyspace for them would cost
    seconds per test."""
    application.result_store.drop()


@pytest.fixture
def papp(app: TaskQueue) -> TaskQueue:
    """The test's app with the delivery-policy tasks too (and the low queue)."""
    from .policy_app import register_policies

    register_policies(app)
    app.declare_topics(["low"])
    return app


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    name: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)


@dataclass
class Workers:
    env: dict[str, str]
    tmp: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(
        self,
        *extra: str,
        queues: str = "default",
        concurrency: int = 4,
        pool: str = "threads",
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        name = f"w{len(self.started)}"
        log = self.tmp / f"{name}.log"
        args = [
            sys.executable,
            "-m",
            "taskqueue",
            "worker",
            "-A",
            "tests.taskqueue.tasks_app",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--name",
            name,
            *extra,
        ]
        full_env = {**os.environ, **self.env, **(env or {}), "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(proc, log, name)
        self.started.append(worker)
        wait_for(lambda: "ready" in worker.output() or proc.poll() is not None, 30)
        assert proc.poll() is None, f"worker exited early:\n{worker.output()}"
        return worker

    def stop_all(self) -> None:
        for w in self.started:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in self.started:
            try:
                w.proc.wait(30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(10)


@pytest.fixture
def workers(tq_env: dict[str, str], tmp_path: Path, app: TaskQueue) -> Iterator[Workers]:
    pool = Workers(tq_env, tmp_path)
    yield pool
    pool.stop_all()


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll a cheap condition until it holds; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
