"""Redis restarted and MongoDB stopped and started again, under load.

Each scenario gives the worker process its own Redis or its own FerretDB
(with its own PostgreSQL), started with the stack's classes, so the fault
hurts nobody else; the suite's evidence (executions, finished bodies) stays
in the shared Redis. The worker must hold through the outage (no exit, no
job failed for want of a store) and finish every acknowledged job once,
with its result stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskqueue import TaskQueue
from tests.support.private_services import (
    PrivateService,
    forget_postgres_cluster,
    private_service,
)

from .conftest import FaultWorkers
from .harness import run_scenario
from .tasks_app import EVIDENCE_ENV, register_reliability

DOWN = 4.0
"""Seconds the store stays down: several backoff rounds of the worker."""

JOBS = 600
"""Ten seconds of load at the harness's pace: it goes on through a graceful
stop (FerretDB drains its connections for seconds), the outage and after."""


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateService]:
    from localstack.redis import Redis  # importable once private_services is

    with private_service(Redis, tmp_path / "redis-stack") as redis:
        yield redis


@pytest.fixture
def private_mongo(tmp_path: Path) -> Iterator[PrivateService]:
    from localstack.mongo import Mongo
    from localstack.postgres import Postgres

    home = tmp_path / "mongo-stack"
    try:
        with private_service(Postgres, home) as postgres:
            url = postgres.service.url  # type: ignore[attr-defined]
            with private_service(Mongo, home, postgres_url=url) as mongo:
                yield mongo
    finally:
        forget_postgres_cluster(home)


def _outage_under_load(
    env: dict[str, str], tmp_path: Path, store: str, scenario: str, service: PrivateService
) -> None:
    """One worker process under load while ``service`` (the worker's ``store``)
    is stopped for :data:`DOWN` seconds and started again."""
    app = TaskQueue("reliability", env=env)
    register_reliability(app)
    app.declare_topics(["default"])
    workers = FaultWorkers(env, tmp_path)
    try:
        worker = workers.start()

        def stop_and_start() -> None:
            service.stop()  # SIGTERM: Redis writes its append-only file, FerretDB drains
            time.sleep(DOWN)
            service.start()

        report = run_scenario(app, scenario, stop_and_start, jobs=JOBS, inject_at=0.2)
        assert worker.proc.poll() is None, f"the worker exited during the {store} outage"
        assert f"{store} is unavailable" in worker.output(), "the load missed the outage"
        assert report.duplicates == 0, report.executions
    finally:
        workers.stop_all()
        app.close()


def test_redis_restart_under_load(
    rel_env: dict[str, str],
    private_redis: PrivateService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        **rel_env,
        "TASKQUEUE_REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0",
        EVIDENCE_ENV: rel_env["TASKQUEUE_REDIS_URL"],
    }
    monkeypatch.setenv(EVIDENCE_ENV, env[EVIDENCE_ENV])
    _outage_under_load(env, tmp_path, "Redis", f"Redis restart ({DOWN:g} s down)", private_redis)


def test_mongo_stop_and_start_under_load(
    rel_env: dict[str, str],
    private_mongo: PrivateService,
    tmp_path: Path,
) -> None:
    env = {**rel_env, "TASKQUEUE_MONGO_URL": f"mongodb://127.0.0.1:{private_mongo.port}"}
    scenario = f"MongoDB stop and start ({DOWN:g} s down)"
    _outage_under_load(env, tmp_path, "MongoDB", scenario, private_mongo)
