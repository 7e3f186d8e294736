"""All four providers run as tasks by a real worker (`manage.py worker`) on
real Kafka, Redis and Mongo, against the provider sandbox over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.environment import PROJECT_ROOT
from providers.sandbox.server import SandboxServer
from taskqueue import TaskQueue
from taskqueue.contrib.django import django_app

PARAMS = {
    "weather": {"places": [{"name": "Oslo"}, {"latitude": 48.85, "longitude": 2.35}]},
    "quote": {"count": 3},
    "exchange": {
        "base": "EUR",
        "symbols": ["USD", "GBP"],
        "start": "2024-01-01",
        "end": "2024-02-15",
    },
    "github": {"repo": "octocat/hello-world"},
}


@pytest.fixture
def worker_env(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    server = SandboxServer().start()
    env = {
        **os.environ,
        "TASKQUEUE_TOPIC_PREFIX": f"{unique_name}.",
        "TASKQUEUE_KEY_PREFIX": unique_name,
        "TASKQUEUE_RESULT_DATABASE": unique_name,
        "TASKQUEUE_PARTITIONS": "2",
        "PROVIDERS_SANDBOX_URL": server.url,
        "PROVIDERS_TIMEOUT": "5",
    }
    yield env
    server.stop()


@pytest.fixture
def app(worker_env: dict[str, str]) -> Iterator[TaskQueue]:
    application = django_app(
        "providers-test",
        topic_prefix=worker_env["TASKQUEUE_TOPIC_PREFIX"],
        key_prefix=worker_env["TASKQUEUE_KEY_PREFIX"],
        result_database=worker_env["TASKQUEUE_RESULT_DATABASE"],
        partitions=2,
    )
    application.declare_topics(["default"])
    yield application
    application.result_store.drop()
    application.close()


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--concurrency", "4"],
            cwd=PROJECT_ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield log
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.timeout(180)
def test_all_four_providers_run_to_success_on_a_real_worker(app: TaskQueue, worker: Path) -> None:
    results = {
        name: app.send_task(f"providers.{name}", args=[params]) for name, params in PARAMS.items()
    }
    for name, result in results.items():
        try:
            document = result.get(timeout=90)
        except Exception as exc:
            pytest.fail(
                f"{name} did not succeed: {exc!r}\nworker log:\n{worker.read_text()[-3000:]}"
            )
        assert result.state == "SUCCESS", name
        assert isinstance(document, dict) and document, name
    assert len(results["weather"].get()["places"]) == 2
    assert len(results["quote"].get()["quotes"]) == 3
    assert set(results["exchange"].get()["stats"]) == {"USD", "GBP"}
    assert results["github"].get()["repository"]["full_name"].lower() == "octocat/hello-world"


@pytest.mark.timeout(180)
def test_rate_limited_upstream_is_retried_by_the_framework(app: TaskQueue, worker: Path) -> None:
    result = app.send_task("providers.github", args=[{"repo": "sandbox/rate-limited"}])
    document = result.get(timeout=90)
    assert document["repository"]["full_name"] == "sandbox/rate-limited"
    stored = app.result_store.get(result.id)
    assert stored is not None
    assert stored["retries"] >= 1, "the 429 went through a framework retry"


@pytest.mark.timeout(180)
def test_missing_repository_fails_with_a_readable_error(app: TaskQueue, worker: Path) -> None:
    result = app.send_task("providers.github", args=[{"repo": "sandbox/not-found"}])
    with pytest.raises(Exception, match="not found"):
        result.get(timeout=90)
    assert result.state == "FAILURE"


@pytest.mark.timeout(240)
def test_upstream_down_exhausts_retries_into_a_readable_failure(
    app: TaskQueue, worker: Path
) -> None:
    """5xx every time: the framework retries (through the delay tiers) up to
    the provider tasks' limit, then the job fails with the upstream's error."""
    from providers.tasks import MAX_RETRIES

    result = app.send_task("providers.github", args=[{"repo": "sandbox/down"}])
    with pytest.raises(Exception) as raised:
        result.get(timeout=200)
    assert result.state == "FAILURE"
    assert "unavailable" in str(raised.value).lower() or "502" in str(raised.value)
    stored = app.result_store.get(result.id)
    assert stored is not None and stored["retries"] == MAX_RETRIES
