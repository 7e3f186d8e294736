"""``taskqueue.contrib.pytest``: Celery's pytest fixtures with ``celery_`` -> ``tq_``.

Celery's documented examples (``celery_app``/``celery_worker``), run as a
project would: a separate pytest run whose conftest only says
``pytest_plugins = ["taskqueue.contrib.pytest"]``, with no service
reachable (every URL it could read from the environment is made wrong).
Then the fixtures used directly here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from taskqueue import TaskQueue, chain, chord, group
from taskqueue.contrib.pytest import (  # noqa: F401 - fixtures used below
    tq_app,
    tq_config,
    tq_parameters,
    tq_worker,
    tq_worker_parameters,
)
from taskqueue.exceptions import ConfigurationError
from taskqueue.worker.main import Worker

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]

PROJECT_TESTS = """
import pytest

from taskqueue import chain, chord, group


def test_create_task(tq_app, tq_worker):
    @tq_app.task
    def mul(x, y):
        return x * y

    tq_worker.reload()
    assert mul.delay(4, 4).get(timeout=10) == 16


def test_a_workflow_runs_on_the_worker(tq_app, tq_worker):
    @tq_app.task(name="tasks.add")
    def add(x, y):
        return x + y

    @tq_app.task(name="tasks.xsum")
    def xsum(numbers):
        return sum(numbers)

    assert chain(add.s(2, 2), add.s(4), add.s(8))().get(timeout=10) == 16
    assert chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=10) == 90


@pytest.mark.tq(always_eager=True)
def test_eager_canvas_needs_no_worker(tq_app):
    @tq_app.task(name="tasks.add")
    def add(x, y):
        return x + y

    @tq_app.task(name="tasks.xsum")
    def xsum(numbers):
        return sum(numbers)

    assert chain(add.s(2, 2), add.s(4), add.s(8))().get() == 16
    assert group(add.s(i, i) for i in range(3))().get() == [0, 2, 4]
    assert chord((add.s(i, i) for i in range(10)), xsum.s())().get() == 90
    assert add.delay(1, 1).get() == 2
"""


def test_a_project_enables_the_fixtures_with_pytest_plugins(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["taskqueue.contrib.pytest"]\n')
    (tmp_path / "test_tasks.py").write_text(textwrap.dedent(PROJECT_TESTS))
    unreachable = "kafka://127.0.0.1:1", "redis://127.0.0.1:1/0", "mongodb://127.0.0.1:1"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TASKQUEUE_BROKER_URL": unreachable[0],
        "TASKQUEUE_REDIS_URL": unreachable[1],
        "TASKQUEUE_MONGO_URL": unreachable[2],
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_tq_app_runs_in_memory_with_test_settings(tq_app: TaskQueue) -> None:  # noqa: F811
    s = tq_app.settings
    assert (s.broker_url, s.redis_url, s.mongo_url) == ("memory://",) * 3
    assert not s.always_eager and not s.control_enabled and s.metrics_port == 0


def test_tq_worker_runs_jobs_and_stores_results(
    tq_app: TaskQueue,  # noqa: F811
    tq_worker: Worker,  # noqa: F811
) -> None:
    @tq_app.task(name="tasks.add")
    def add(x: int, y: int) -> int:
        return x + y

    @tq_app.task(name="tasks.xsum")
    def xsum(numbers: list[int]) -> int:
        return sum(numbers)

    result = (add.s(1, 1) | add.s(2))()
    assert result.get(timeout=10) == 4 and result.parent.get(timeout=10) == 2
    assert tq_app.AsyncResult(result.id).state == "SUCCESS"
    res = group(add.s(i, i) for i in range(4))()
    assert res.get(timeout=10) == [0, 2, 4, 6]
    assert chord([add.s(1, 1), add.s(2, 2)], xsum.s())().get(timeout=10) == 6


def test_reload_names_a_queue_the_worker_does_not_serve(
    tq_app: TaskQueue,  # noqa: F811
    tq_worker: Any,  # noqa: F811
) -> None:
    @tq_app.task(queue="reports")
    def report() -> None: ...

    with pytest.raises(ConfigurationError, match="reports"):
        tq_worker.reload()


def test_eager_chain_passes_results_along(tq_config: dict[str, Any]) -> None:  # noqa: F811
    app = TaskQueue("eager", env={}, **{**tq_config, "broker_url": "memory://"}, always_eager=True)
    seen: list[int] = []

    @app.task
    def record(x: int) -> int:
        seen.append(x)
        return x * 10

    assert chain(record.s(1), record.s(), record.s())().get() == 1000
    assert seen == [1, 10, 100]
