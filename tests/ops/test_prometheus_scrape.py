"""The local stack's Prometheus scrapes a real worker and the web server.

A private Prometheus (the stack's own service class, deploy/local/localstack,
in a temporary folder on a free port) scrapes a worker subprocess on real
Kafka, Redis and MongoDB, and daphne serving the site. Jobs submitted before
the worker starts block on a gate: Prometheus must see them as consumer lag,
and see the lag fall to 0 once the gate opens and they ran. The web target
must be up and export the GraphQL operation counter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from taskqueue import TaskQueue
from tests.support.private_services import PrivateService, free_port, layout_in
from tests.support.servers import daphne, stop
from tests.taskqueue.conftest import isolated_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))

from localstack.prometheus import Prometheus  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
JOBS = 4


def eventually(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll until ``check`` returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not seen within {timeout:g} s (last answer {last!r})")


class PromQL:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1/query"

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it has no series."""
        body = httpx.get(self.url, params={"query": expr}, timeout=5).json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        assert len(result) <= 1, f"{expr} has {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def env(unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str) -> dict[str, str]:
    name = connection.settings_dict["NAME"]
    assert str(name) != ":memory:" and "mode=memory" not in str(name), name
    return {
        **os.environ,
        **isolated_env(unique_name, kafka_bootstrap, redis_url, mongo_url),
        "TASKQUEUE_PARTITIONS": "2",
        "TASKQUEUE_CONTROL_ENABLED": "false",
        "TASKQUEUE_METRICS_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{name}",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[TaskQueue]:
    application = TaskQueue("ops", env=env)
    application.declare_topics(["default"])
    yield application
    application.close()


@pytest.fixture
def web(env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    with daphne(env, tmp_path / "daphne.log") as port:
        yield port


@pytest.fixture
def start_worker(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Path]]:
    procs: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "worker.log"

    def start() -> Path:
        argv = [sys.executable, "-m", "taskqueue", "worker", "-A", "tests.ops.gated_app"]
        argv += ["-Q", "default", "-c", "1", "-n", "ops-worker"]
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
        return log

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture
def prometheus(env: dict[str, str], web: int, tmp_path: Path) -> Iterator[PromQL]:
    service = Prometheus(
        layout_in(tmp_path / "stack"),
        free_port(),
        {
            "taskqueue-web": [f"127.0.0.1:{web}"],
            "taskqueue-workers": [f"127.0.0.1:{env['TASKQUEUE_METRICS_PORT']}"],
        },
        scrape_interval="1s",
    )
    private = PrivateService(service)
    private.start()
    try:
        yield PromQL(service.port)
    finally:
        private.stop()


def test_prometheus_sees_lag_while_jobs_wait_and_zero_once_they_ran(
    app: TaskQueue,
    web: int,
    prometheus: PromQL,
    start_worker: Callable[[], Path],
    unique_name: str,
) -> None:
    gate = f"{unique_name}:gate"
    jobs = [app.send_task("ops.wait", (gate,)) for _ in range(JOBS)]
    log = start_worker()  # one body at a time: the first blocks, the rest wait
    lag = 'sum(taskqueue_consumer_lag_messages{job="taskqueue-workers",queue="default"})'
    try:
        eventually(lambda: prometheus.value(lag) == JOBS, f"lag {JOBS}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{log.read_text()[-3000:]}") from None
    age = "max(taskqueue_oldest_unprocessed_job_age_seconds)"
    eventually(lambda: (prometheus.value(age) or 0) > 0, "the oldest job's age")

    # The web target: up, and counting GraphQL operations by name.
    httpx.get(
        f"http://127.0.0.1:{web}/graphql",
        params={"query": "query OpsProbe { __typename }"},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    eventually(lambda: prometheus.value('up{job="taskqueue-web"}') == 1, "the web target up")
    operations = 'graphql_operations_total{operation="OpsProbe",type="query"}'
    eventually(lambda: prometheus.value(operations) == 1, "the GraphQL operation counted")

    app.state_backend.client.set(gate, 1, ex=600)
    for job in jobs:
        assert job.get(timeout=60) == gate
    eventually(lambda: prometheus.value(lag) == 0, "lag back to 0")
    succeeded = 'sum(taskqueue_jobs_succeeded_total{task="ops.wait"})'
    eventually(lambda: prometheus.value(succeeded) == JOBS, "the successes")
    assert prometheus.value('up{job="taskqueue-workers"}') == 1
