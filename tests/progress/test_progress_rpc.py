"""The progress request/reply over real RabbitMQ: live workers answer for the
jobs they hold, concurrent callers get their own replies, and the API falls
back to Redis when no worker answers or RabbitMQ is away."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs import live_progress as rpc
from jobs.models import Job
from jobs.taskapp import use_app
from taskqueue import TaskQueue
from taskqueue.contrib.django import django_app
from taskqueue.control.client import ControlClient
from taskqueue.control.plane import HEARTBEAT_FIELD
from taskqueue.stores.state import StateUpdate

from .conftest import free_port, stop, wait_for
from .test_control_plane import app, control_env, start_worker  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def two_workers(
    control_env: dict[str, str],  # noqa: F811
    app: TaskQueue,  # noqa: F811
    rabbitmq_url: str,
    tmp_path: Path,
) -> Iterator[Path]:
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    procs = [start_worker(control_env, log, "-n", f"w{i}") for i, log in enumerate(logs, 1)]

    def both_ready() -> bool:
        live = app.state_backend.workers()
        return all(HEARTBEAT_FIELD in live.get(f"w{i}", {}) for i in (1, 2))

    wait_for(both_ready, 60, "two workers", logs[0])
    control = ControlClient(app, timeout=5)
    try:
        # Each worker owns one of the two partitions once the group settled.
        wait_for(
            lambda: all(a.ok and len(a.reply.partitions) == 1 for a in control.stats()),
            60,
            "the group to give each worker a partition",
            logs[0],
        )
    finally:
        control.close()
    yield logs[0]
    for proc in procs:
        stop(proc)


def test_replies_are_matched_among_concurrent_callers(
    app: TaskQueue,  # noqa: F811
    two_workers: Path,
) -> None:
    results = [app.send_task("c.steps", args=[400, 0.05]) for _ in range(4)]
    control = ControlClient(app, timeout=5)
    try:
        wait_for(
            lambda: sum(len(a.reply.jobs) for a in control.active() if a.ok) == 4,
            60,
            "four jobs held",
            two_workers,
        )
        holders = {j.id: a.worker for a in control.active() for j in a.reply.jobs}
    finally:
        control.close()
    assert set(holders.values()) <= {"w1", "w2"}
    client = rpc.ProgressClient(app.settings.rabbitmq_url, app.settings.progress_exchange_name())
    answers: dict[tuple[int, int], Any] = {}

    def caller(n: int) -> None:
        for round_ in range(5):
            job = results[(n + round_) % 4]
            answers[(n, round_)] = (job.id, client.ask(job.id, 5, holders[job.id]))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert len(answers) == 40
    for asked, reply in answers.values():
        assert reply is not None, f"no reply for {asked}"
        assert reply["job_id"] == asked and reply["worker"] == holders[asked]
        # Two run per worker; a third on the same worker waits in its pool.
        assert reply["state"] in ("RECEIVED", "STARTED", "PROGRESS")
        if reply["state"] == "PROGRESS":
            assert reply["progress"]["total"] == 400
    control = ControlClient(app, timeout=5)
    try:
        for r in results:
            control.revoke(r.id, terminate=True)
    finally:
        control.close()


@pytest.mark.django_db(transaction=True)
def test_job_not_held_by_any_worker_is_answered_from_redis(
    alice: Any, jobs_app: TaskQueue, rabbitmq_url: str
) -> None:
    job = Job.objects.create(owner=alice, provider="quote", state="STARTED", attempts=1)
    jobs_app.state_backend.write(
        StateUpdate(str(job.pk), "PROGRESS", 0, payload={"current": 2, "total": 8, "message": "m"})
    )
    answer = rpc.job_progress(job, timeout=0.2)
    assert answer.source == "redis" and answer.state == "PROGRESS"
    assert answer.progress == {"current": 2, "total": 8, "percent": 25.0, "message": "m"}
    finished = Job.objects.create(owner=alice, provider="quote", state="SUCCESS", attempts=1)
    assert rpc.job_progress(finished).source == "database"


@pytest.mark.django_db(transaction=True)
def test_rabbitmq_unreachable_answers_from_redis_and_logs_once(
    alice: Any, isolation: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    down = django_app(
        "rpc-down",
        key_prefix=isolation["TASKQUEUE_KEY_PREFIX"],
        rabbitmq_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
    )
    job = Job.objects.create(owner=alice, provider="quote", state="STARTED", attempts=1)
    down.state_backend.write(
        StateUpdate(str(job.pk), "PROGRESS", 0, worker="w1", payload={"current": 1})
    )
    with use_app(down), caplog.at_level(logging.WARNING, logger="jobs.live_progress"):
        answers = [rpc.job_progress(job) for _ in range(3)]
    assert [a.source for a in answers] == ["redis"] * 3
    assert [a.progress["current"] for a in answers] == [1, 1, 1]
    outages = [r for r in caplog.records if "RabbitMQ unreachable" in r.getMessage()]
    assert len(outages) == 1
    down.close()


@pytest.mark.django_db(transaction=True)
def test_job_progress_query_asks_the_worker_holding_a_real_job(
    gql: Any, client: Any, alice: Any, worker: Path, jobs_app: TaskQueue
) -> None:
    import uuid

    client.force_login(alice)
    body = gql(
        """mutation($input: SubmitJobInput!) { submitJob(input: $input) { job { id } } }""",
        {
            "input": {
                "provider": "github",
                "params": {"repo": f"sandbox/slow-{uuid.uuid4().hex[:6]}"},
            }
        },
    )
    job_id = body["data"]["submitJob"]["job"]["id"]
    query = """query($id: ID!) { jobProgress(id: $id) {
        id source state attempt current total percent message worker } }"""

    def asked() -> dict | None:
        answer = gql(query, {"id": job_id})["data"]["jobProgress"]
        return answer if answer["source"] == "WORKER" else None

    answer = wait_for(asked, 60, "the worker to answer", worker)
    assert answer["id"] == job_id and answer["state"] in ("STARTED", "PROGRESS")
    assert answer["worker"] and answer["attempt"] == 0
    other = gql(query, {"id": str(uuid.uuid4())})
    assert other["data"]["jobProgress"] is None
    assert other["errors"][0]["extensions"]["rule"] == "not_found"
