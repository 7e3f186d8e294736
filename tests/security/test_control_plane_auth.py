"""The control plane's trust boundary (issue 17, item 6).

- gRPC: a worker's service answers only calls that present the shared
  ``control_token``; without a token it serves loopback only.
- RabbitMQ progress replies: accepted only from the job's holder (the state
  store's ``worker``), about that job, and signed when a token is set.
- Credentials: RabbitMQ's ``guest`` user is refused beyond loopback.
- ``SetRateLimit`` refuses rates slower than 1/h.

The fast tests serve the real gRPC service in-process over loopback on the
in-memory stores; the others use a real worker subprocess, real Redis and
real RabbitMQ.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from config.environment import PROJECT_ROOT
from jobs import live_progress
from taskqueue import TaskQueue
from taskqueue.config import Settings
from taskqueue.control import auth
from taskqueue.control.client import ControlClient
from taskqueue.control.grpc_server import WorkerService, serve
from taskqueue.control.inflight import InFlight
from taskqueue.control.plane import HEARTBEAT_FIELD
from taskqueue.control.progress_rpc import ProgressResponder, sign, verify
from taskqueue.exceptions import ConfigurationError
from taskqueue.message import Message
from tests.progress.conftest import stop, wait_for
from tests.progress.control_app import register
from tests.taskqueue.conftest import memory_app

TOKEN = "s3cret-control-token"


@dataclass
class IdleWorker:
    """What the gRPC service reads of a worker: one that holds nothing."""

    name: str = "w-test"
    pool: str = "threads"
    concurrency: int = 1
    queues: list[str] = field(default_factory=lambda: ["default"])
    started_at: float = field(default_factory=time.time)

    def in_flight(self) -> int:
        return 0

    def processed(self) -> int:
        return 0

    def partitions(self) -> list[tuple[str, int]]:
        return []

    def problem(self) -> tuple[str, float | None]:
        return "", None


@pytest.fixture
def served(unique_name: str) -> Iterator[tuple[TaskQueue, str, InFlight]]:
    """A worker's gRPC service that requires ``TOKEN``, on a free loopback port."""
    app = memory_app("auth", unique_name, control_token=TOKEN)
    inflight = InFlight()
    service = WorkerService(app, IdleWorker(), inflight, None)
    server, address = serve(service, "127.0.0.1", 0, app.settings.control_token)
    yield app, address, inflight
    server.stop(None)
    app.close()


def client_of(app: TaskQueue, address: str, **settings: Any) -> ControlClient:
    """A client that finds the served worker through its heartbeat, with ``settings``."""
    app.state_backend.heartbeat("w-test", {HEARTBEAT_FIELD: address}, ttl=30)
    if settings:
        app.conf.update(settings)
    return ControlClient(app, timeout=5)


@pytest.mark.fast
def test_calls_with_the_token_are_answered(served: tuple[TaskQueue, str, InFlight]) -> None:
    app, address, _ = served
    client = client_of(app, address)
    try:
        [pong] = client.ping()
        assert pong.ok and pong.reply.worker == "w-test"
    finally:
        client.close()


@pytest.mark.fast
@pytest.mark.parametrize("presented", ["", "wrong-token"])
def test_calls_without_the_right_token_are_refused_before_running(
    served: tuple[TaskQueue, str, InFlight], presented: str
) -> None:
    app, address, inflight = served
    inflight.received(Message(id="job-1", task="t"))
    client = client_of(app, address, control_token=presented)
    try:
        for answer in (*client.ping(), *client.stats(), *client.active()):
            assert not answer.ok and answer.code == "UNAUTHENTICATED", answer
        [changed] = client.set_rate_limit("t", "5/s")
        assert changed.code == "UNAUTHENTICATED"
        assert app.rate_limiter.limits() == {}, "a refused call must change nothing"
        [revoked] = client.revoke("job-1")
        assert revoked.code == "UNAUTHENTICATED"
        assert app.state_backend.read("job-1").get("state") != "REVOKED"
        # The server stream too: refused before its first message.
        with pytest.raises(grpc.RpcError) as refused:
            list(client.watch(address, "job-1", timeout=5))
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        client.close()


@pytest.mark.fast
def test_an_open_control_plane_serves_loopback_only() -> None:
    for host in ("0.0.0.0", "10.0.0.7", "worker-0.workers", "::"):
        with pytest.raises(ConfigurationError, match="control_token is empty"):
            auth.check_bind(host, "")
        auth.check_bind(host, TOKEN)  # with a token, any address
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        auth.check_bind(host, "")
    assert Settings().control_host == "127.0.0.1" and Settings().control_token == ""


@pytest.mark.fast
def test_the_token_and_rabbitmq_password_stay_out_of_reprs() -> None:
    settings = Settings(control_token=TOKEN, rabbitmq_url="amqp://tq:pw-rabbit@rabbit:5672/%2F")
    assert TOKEN not in repr(settings) and "pw-rabbit" not in repr(settings)


@pytest.mark.fast
def test_rabbitmq_guest_user_is_refused_beyond_loopback() -> None:
    with pytest.raises(ConfigurationError, match="'guest' user is the local stack's only") as bad:
        Settings.load(env={"TASKQUEUE_RABBITMQ_URL": "amqp://guest:guest@rabbitmq:5672/%2F"})
    assert "TASKQUEUE_RABBITMQ_URL" in str(bad.value) and ":guest@" not in str(bad.value)
    for url in ("amqp://guest:guest@127.0.0.1:5672/%2F", "amqp://guest:guest@localhost/%2F"):
        assert Settings(rabbitmq_url=url).rabbitmq_url == url  # the local stack
    assert Settings(rabbitmq_url="amqps://tq:pw@rabbitmq:5671/%2F").rabbitmq_url
    assert Settings(rabbitmq_url="").rabbitmq_url == ""


@pytest.mark.fast
def test_rate_limits_slower_than_one_an_hour_are_refused(
    served: tuple[TaskQueue, str, InFlight],
) -> None:
    """Waiting jobs never hold a pool thread (they wait in the delay tiers),
    but a limit of 0.001/h would keep each one circling the tiers for weeks."""
    app, address, _ = served
    for rate in ("0.001/h", "0.5/h", "0.01/m", "1" + "0" * 400 + "/s"):
        with pytest.raises(ConfigurationError, match="rate"):
            app.control.rate_limit("t", rate)
    client = client_of(app, address)
    try:
        [refused] = client.set_rate_limit("t", "0.001/h")
        assert refused.code == "INVALID_ARGUMENT" and "slower than 1/h" in (refused.error or "")
        assert app.rate_limiter.limits() == {}
        [accepted] = client.set_rate_limit("t", "1/h")
        assert accepted.ok and accepted.reply.rate == "1/h"
    finally:
        client.close()


@pytest.mark.fast
def test_a_reply_signature_binds_the_body_to_its_request() -> None:
    body = b'{"job_id":"j","worker":"w1"}'
    good = {"tq-signature": sign(TOKEN, "corr-1", body)}
    assert verify(TOKEN, "corr-1", body, good)
    assert not verify(TOKEN, "corr-2", body, good), "replayed for another request"
    assert not verify(TOKEN, "corr-1", body.replace(b"w1", b"w2"), good), "body changed"
    assert not verify(TOKEN, "corr-1", body, {"tq-signature": sign("other", "corr-1", body)})
    assert not verify(TOKEN, "corr-1", body, None)
    assert verify("", "corr-1", body, None), "no token: nothing to check"


# --- real RabbitMQ -----------------------------------------------------------------


@pytest.fixture
def exchange(unique_name: str) -> str:
    return f"{unique_name}.progress"


def responder(url: str, exchange: str, worker: str, token: str) -> ProgressResponder:
    """A worker's progress responder that holds job ``job-1``."""
    inflight = InFlight()
    inflight.received(Message(id="job-1", task="t"))
    inflight.update("job-1", "PROGRESS", 0, {"current": 3, "total": 4}, time.time())
    answering = ProgressResponder(url, exchange, inflight, worker, token)
    answering.start()
    assert answering.ready.wait(10), "the responder did not bind to the exchange"
    return answering


def test_progress_replies_are_taken_only_from_the_holder(rabbitmq_url: str, exchange: str) -> None:
    impostor = responder(rabbitmq_url, exchange, "impostor", "")
    asker = live_progress.ProgressClient(rabbitmq_url, exchange)
    try:
        # The impostor answers (it holds a copy in memory), but the state
        # store names w1: its reply is refused and the caller falls back.
        assert asker.ask("job-1", 1.0, holder="w1") is None
        assert asker.refused >= 1 and impostor.answered >= 1
        reply = asker.ask("job-1", 5.0, holder="impostor")
        assert reply is not None and reply["worker"] == "impostor"
    finally:
        asker.close()
        impostor.stop()


def test_unsigned_progress_replies_are_refused_when_a_token_is_set(
    rabbitmq_url: str, exchange: str
) -> None:
    unsigned = responder(rabbitmq_url, exchange, "w1", "")
    asker = live_progress.ProgressClient(rabbitmq_url, exchange, TOKEN)
    try:
        assert asker.ask("job-1", 1.0, holder="w1") is None
        assert asker.refused >= 1
    finally:
        unsigned.stop()
    signed = responder(rabbitmq_url, exchange, "w1", TOKEN)
    try:
        reply = asker.ask("job-1", 5.0, holder="w1")
        assert reply is not None and reply["progress"]["current"] == 3
    finally:
        asker.close()
        signed.stop()


# --- a real worker --------------------------------------------------------------------


@pytest.fixture
def worker_env(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str
) -> dict[str, str]:
    return {
        **os.environ,
        "TASKQUEUE_BROKER_URL": f"kafka://{kafka_bootstrap}",
        "TASKQUEUE_REDIS_URL": redis_url,
        "TASKQUEUE_MONGO_URL": mongo_url,
        "TASKQUEUE_TOPIC_PREFIX": f"{unique_name}.",
        "TASKQUEUE_KEY_PREFIX": unique_name,
        "TASKQUEUE_RESULT_DATABASE": unique_name,
        "TASKQUEUE_PARTITIONS": "1",
        "TASKQUEUE_HEARTBEAT_INTERVAL": "1",
        "TASKQUEUE_CONTROL_TOKEN": TOKEN,
    }


@pytest.mark.timeout(120)
def test_a_worker_with_a_token_answers_only_clients_that_send_it(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    app = TaskQueue("auth-tests", env={**worker_env, "TASKQUEUE_CONTROL_TOKEN": ""})
    register(app)
    app.declare_topics(["default"])
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taskqueue", "worker", "-A", "tests.progress.control_app"]
            + ["-c", "1", "-n", "w-auth"],
            cwd=PROJECT_ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: HEARTBEAT_FIELD in app.state_backend.workers().get("w-auth", {}),
            60,
            "the worker's control address",
            log,
        )
        assert "token required" in log.read_text()
        anonymous = ControlClient(app, timeout=5)
        try:
            [refused] = anonymous.ping()
            assert refused.code == "UNAUTHENTICATED"
        finally:
            anonymous.close()
        app.conf.control_token = TOKEN
        trusted = ControlClient(app, timeout=5)
        try:
            [pong] = trusted.ping()
            assert pong.ok and pong.reply.worker == "w-auth"
        finally:
            trusted.close()
        # The CLI reads the token from the environment, like the worker.
        cli = [sys.executable, "-m", "taskqueue", "inspect", "ping"]
        cli += ["-A", "tests.progress.control_app", "--timeout", "5"]
        run = subprocess.run(cli, cwd=PROJECT_ROOT, env=worker_env, capture_output=True)
        assert run.returncode == 0 and b"pong" in run.stdout, run.stdout + run.stderr
        without = {**worker_env, "TASKQUEUE_CONTROL_TOKEN": ""}
        run = subprocess.run(cli, cwd=PROJECT_ROOT, env=without, capture_output=True)
        assert run.returncode == 1 and b"UNAUTHENTICATED" in run.stdout
    finally:
        stop(proc)
        app.result_store.drop()
        app.close()
