"""The command line, run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from confluent_kafka.admin import AdminClient

from taskqueue import TaskQueue

from .conftest import ROOT, Workers, wait_for

pytestmark = pytest.mark.timeout(120)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskqueue", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_topics_create_makes_queue_and_dead_letter_topics(tq_env: dict[str, str]) -> None:
    app = TaskQueue("cli", env=tq_env)
    try:
        out = run_cli(
            tq_env, "topics", "create", "-A", "tests.taskqueue.tasks_app", "--queues", "default,low"
        )
        assert out.returncode == 0, out.stderr
        assert "creating topics" in out.stdout and "created" in out.stdout
        admin = AdminClient({"bootstrap.servers": app.settings.broker_url[len("kafka://") :]})
        meta = admin.list_topics(timeout=10).topics
        for name in ("default", "low"):
            assert len(meta[app.settings.topic(name)].partitions) == 3
            assert app.settings.dead_letter_topic(name) in meta
        again = run_cli(tq_env, "topics", "create", "-A", "tests.taskqueue.tasks_app")
        assert "already exists" in again.stdout
    finally:
        from .conftest import cleanup

        cleanup(app)
        app.close()


def test_errors_are_plain_words(tq_env: dict[str, str]) -> None:
    out = run_cli({**tq_env, "TASKQUEUE_POOLL": "x"}, "workers", "-A", "tests.taskqueue.tasks_app")
    assert out.returncode == 2
    assert "TASKQUEUE_POOLL" in out.stderr and "Traceback" not in out.stderr
    missing = run_cli(tq_env, "workers", "-A", "no_such_module_xyz")
    assert missing.returncode == 2 and "no_such_module_xyz" in missing.stderr
    down = run_cli(
        {**tq_env, "TASKQUEUE_REDIS_URL": "redis://127.0.0.1:1/0"},
        "workers",
        "-A",
        "tests.taskqueue.tasks_app",
    )
    assert down.returncode == 3 and "Redis failed" in down.stderr
    assert "Traceback" not in down.stderr


def test_workers_lists_live_heartbeats(
    app: TaskQueue, workers: Workers, tq_env: dict[str, str]
) -> None:
    workers.start()
    wait_for(lambda: "w0" in app.state_backend.workers(), 30)
    out = run_cli(tq_env, "workers", "-A", "tests.taskqueue.tasks_app")
    assert "w0: queues=default" in out.stdout
