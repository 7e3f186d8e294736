"""The workers' gRPC control service against live worker subprocesses
(`python -m taskqueue worker -A tests.progress.control_app`) on real Kafka,
Redis and Mongo."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from config.environment import PROJECT_ROOT
from taskqueue import TaskQueue
from taskqueue.control.client import ControlClient
from taskqueue.control.plane import HEARTBEAT_FIELD
from taskqueue.control.proto import pb
from tests.progress.control_app import register

from .conftest import free_port, stop, wait_for

pytestmark = pytest.mark.timeout(120)

APP = "tests.progress.control_app"


@pytest.fixture
def control_env(unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str) -> dict:
    return {
        **os.environ,
        "TASKQUEUE_TOPIC_PREFIX": f"{unique_name}.",
        "TASKQUEUE_KEY_PREFIX": unique_name,
        "TASKQUEUE_RESULT_DATABASE": unique_name,
        "TASKQUEUE_PARTITIONS": "2",
        "TASKQUEUE_HEARTBEAT_INTERVAL": "1",
    }


@pytest.fixture
def app(control_env: dict[str, str]) -> Iterator[TaskQueue]:
    application = TaskQueue(
        "control-tests",
        topic_prefix=control_env["TASKQUEUE_TOPIC_PREFIX"],
        key_prefix=control_env["TASKQUEUE_KEY_PREFIX"],
        result_database=control_env["TASKQUEUE_RESULT_DATABASE"],
        partitions=2,
    )
    register(application)
    application.declare_topics(["default"])
    yield application
    application.result_store.drop()
    application.close()


def start_worker(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "taskqueue", "worker", "-A", APP, "-c", "2", *extra],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def worker(control_env: dict[str, str], app: TaskQueue, tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "worker.log"
    proc = start_worker(control_env, log, "-n", "w1")
    wait_for(lambda: HEARTBEAT_FIELD in app.state_backend.workers().get("w1", {}), 60, "w1", log)
    wait_for(lambda: "partitions assigned" in log.read_text(), 60, "assignment", log)
    yield log
    stop(proc)


@pytest.fixture
def control(app: TaskQueue) -> Iterator[ControlClient]:
    client = ControlClient(app, timeout=5)
    yield client
    client.close()


def held(control: ControlClient, job_id: str, log: Path, at_least: float = 1) -> Any:
    """Wait until a worker reports ``job_id`` with progress ``>= at_least``."""

    def check() -> Any:
        answer = control.progress(job_id)
        if answer is not None and answer.reply.progress.current >= at_least:
            return answer
        return None

    return wait_for(check, 60, f"job {job_id} held with progress", log)


def test_ping_stats_and_active_jobs_of_a_live_worker(
    app: TaskQueue, worker: Path, control: ControlClient
) -> None:
    [pong] = control.ping()
    assert pong.ok and pong.reply.worker == "w1" and pong.reply.pid > 0
    result = app.send_task("c.steps", args=[40, 0.1])
    held(control, result.id, worker)
    [stats] = control.stats(with_lag=True)
    assert stats.ok, stats.error
    r = stats.reply
    assert (r.pool, r.concurrency, list(r.queues)) == ("threads", 2, ["default"])
    assert r.in_flight == 1
    assert sorted((p.topic, p.partition) for p in r.partitions) == [
        (app.settings.topic("default"), 0),
        (app.settings.topic("default"), 1),
    ]
    assert all(p.high_watermark >= 0 for p in r.partitions) and r.total_lag >= 0
    [active] = control.active()
    [job] = active.reply.jobs
    assert (job.id, job.task, job.attempt) == (result.id, "c.steps", 0)
    assert job.state == "PROGRESS" and job.progress.known and job.progress.total == 40
    result.get(timeout=60)
    [after] = control.stats()
    assert after.reply.succeeded == 1 and after.reply.in_flight == 0


def test_watch_progress_streams_every_change_and_ends_with_the_job(
    app: TaskQueue, worker: Path, control: ControlClient
) -> None:
    result = app.send_task("c.steps", args=[8, 0.3])
    answer = held(control, result.id, worker)
    updates = list(control.watch(answer.address, result.id, timeout=60))
    currents = [u.progress.current for u in updates if u.progress.known]
    assert currents == sorted(currents) and currents[-1] == 8
    assert updates[-1].final and updates[-1].state == "SUCCESS"
    assert all(not u.final for u in updates[:-1])
    with pytest.raises(grpc.RpcError) as missing:
        control.stub(answer.address).GetProgress(pb.GetProgressRequest(job_id=result.id), timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_revoke_with_terminate_stops_a_running_job(
    app: TaskQueue, worker: Path, control: ControlClient
) -> None:
    result = app.send_task("c.steps", args=[600, 0.05])
    held(control, result.id, worker, at_least=3)
    [answer] = control.revoke(result.id, terminate=True, reason="test says stop")
    assert answer.ok and answer.reply.revoked and answer.reply.held and answer.reply.terminated
    wait_for(lambda: not control.active()[0].reply.jobs, 30, "the attempt to end", worker)
    assert result.state == "REVOKED"
    stored = app.state_backend.read(result.id)
    assert stored["state"] == "REVOKED"
    # The pool thread survived the interruption: the worker runs the next job.
    assert app.send_task("c.steps", args=[1, 0]).get(timeout=60) == 1
    assert "Traceback" not in worker.read_text()


def test_rate_limit_set_at_run_time_holds_jobs_back_until_lifted(
    app: TaskQueue, worker: Path, control: ControlClient
) -> None:
    """SetRateLimit drives the one shared limiter: the limit reaches every
    worker, a job without a token waits in the delay tiers (never in a pool
    thread), and lifting the limit lets it run."""
    [answer] = control.set_rate_limit("c.steps", "1/h")
    assert answer.ok and answer.reply.rate == "1/h" and answer.reply.previous == ""
    assert app.control.rate_limit("c.steps", "1/h") == ("1/h", "1/h")  # the same limit
    first = app.send_task("c.steps", args=[1, 0])
    assert first.get(timeout=60) == 1
    second = app.send_task("c.steps", args=[1, 0])
    time.sleep(3)  # several rounds through the delay tiers
    assert second.state == "PENDING", "a job without a token must not start"
    [stats] = control.stats()
    assert dict(stats.reply.rate_limits) == {"c.steps": "1/h"}
    [lifted] = control.set_rate_limit("c.steps", "")
    assert lifted.reply.rate == "" and lifted.reply.previous == "1/h"
    assert second.get(timeout=30) == 1
    [bad] = control.set_rate_limit("c.steps", "fast")
    assert not bad.ok and bad.code == "INVALID_ARGUMENT"


def test_unreachable_worker_is_reported_not_waited_on(app: TaskQueue) -> None:
    dead = f"127.0.0.1:{free_port()}"
    app.state_backend.heartbeat("ghost", {HEARTBEAT_FIELD: dead}, ttl=30)
    app.state_backend.heartbeat("old", {"pid": 1}, ttl=30)
    client = ControlClient(app, timeout=0.5)
    try:
        answers = {a.worker: a for a in client.ping()}
    finally:
        client.close()
        app.state_backend.remove_worker("ghost")
        app.state_backend.remove_worker("old")
    assert answers["ghost"].error and answers["ghost"].error.startswith("unreachable")
    assert answers["old"].code == "NONE"


def test_cli_inspects_and_controls_over_the_same_service(
    app: TaskQueue, worker: Path, control_env: dict[str, str]
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "taskqueue", *args, "-A", APP],
            cwd=PROJECT_ROOT,
            env=control_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ping = cli("inspect", "ping")
    assert ping.returncode == 0 and "w1" in ping.stdout and "pong" in ping.stdout
    stats = cli("inspect", "stats", "--lag")
    assert stats.returncode == 0 and "threads x2" in stats.stdout and "lag" in stats.stdout
    assert "no active jobs" in cli("inspect", "active").stdout
    limit = cli("control", "rate-limit", "c.steps", "5/s")
    assert limit.returncode == 0 and "c.steps: 5/s" in limit.stdout
    checker = ControlClient(app, timeout=2)
    try:
        wait_for(
            lambda: dict(checker.stats()[0].reply.rate_limits) == {"c.steps": "5/s"},
            10,
            "the CLI's limit to reach the worker",
            worker,
        )
    finally:
        checker.close()
    revoke = cli("control", "revoke", "00000000-0000-0000-0000-000000000001", "--terminate")
    assert revoke.returncode == 0 and "revoked=True" in revoke.stdout
