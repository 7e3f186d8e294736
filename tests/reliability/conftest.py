"""Fixtures of the fault suite: an isolated app per test and worker
processes (the worker CLI) that scenarios can SIGKILL and SIGTERM; the table
of figures is printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskqueue import TaskQueue
from tests.taskqueue.conftest import WorkerProcess, Workers, cleanup, isolated_env

from .harness import RESULTS, ROWS, table
from .tasks_app import APP, register_reliability

PARTITIONS = 4
"""Enough for two workers to share a queue and for partitions to move."""


@pytest.fixture
def rel_env(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str
) -> dict[str, str]:
    """Settings of the test's app and of its worker processes: the integration
    tests' (isolated names, short session timeout), plus the suite's own."""
    return {
        **isolated_env(unique_name, kafka_bootstrap, redis_url, mongo_url),
        "TASKQUEUE_PARTITIONS": str(PARTITIONS),
        # Sub-second tiers: delayed jobs hop within a scenario's seconds.
        "TASKQUEUE_DELAY_TIERS": "0.2,1",
        "TASKQUEUE_CONTROL_ENABLED": "false",
    }


@pytest.fixture
def fapp(rel_env: dict[str, str]) -> Iterator[TaskQueue]:
    """The test's app, with the suite's tasks; its topics and database are
    deleted afterwards."""
    app = TaskQueue("reliability", env=rel_env)
    register_reliability(app)
    app.declare_topics(["default"])
    yield app
    try:
        cleanup(app)
    finally:
        app.close()


class FaultWorkers(Workers):
    """Worker processes that load the suite's tasks (or, with ``app=``,
    another version of them)."""

    def start(self, *extra: str, app: str = APP, **options: Any) -> WorkerProcess:
        return super().start("-A", app, *extra, **options)


@pytest.fixture
def fworkers(rel_env: dict[str, str], tmp_path: Path, fapp: TaskQueue) -> Iterator[FaultWorkers]:
    pool = FaultWorkers(rel_env, tmp_path)
    yield pool
    pool.stop_all()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.section("fault suite")
        terminalreporter.write_line(table(ROWS))
        terminalreporter.write_line(f"(also in {RESULTS.relative_to(RESULTS.parents[1])})")
