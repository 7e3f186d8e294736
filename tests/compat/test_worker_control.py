"""Celery's worker options and remote control: ``-l``, ``-n %h``,
``--max-tasks-per-child``, ``--max-memory-per-child``.

The option parsing and name expansion are fast tests; child recycling runs
on real forkserver children, then end to end on a real worker process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.cli import _parser
from taskqueue.exceptions import ConfigurationError
from taskqueue.worker.main import Worker, node_name
from taskqueue.worker.processes import ChildPool
from tests.taskqueue.conftest import ROOT, Workers, isolated_env, wait_for
from tests.taskqueue.tasks_app import register

pytestmark = pytest.mark.timeout(120)

TASKS_APP = "tests.taskqueue.tasks_app"


@pytest.mark.fast
@pytest.mark.parametrize(
    ("template", "expanded"),
    [
        ("w1@%h", "w1@box.example.com"),
        ("w1@%n", "w1@box"),
        ("%n.%d", "box.example.com"),
        ("100%%@%n", "100%@box"),
        ("plain", "plain"),
    ],
)
def test_node_name_expands_celery_variables(template: str, expanded: str) -> None:
    assert node_name(template, "box.example.com") == expanded


@pytest.mark.fast
def test_node_name_of_a_host_without_domain() -> None:
    assert node_name("w@%n|%d", "box") == "w@box|"


@pytest.mark.fast
def test_worker_cli_takes_celery_options() -> None:
    args = _parser().parse_args(
        [
            "worker",
            "-A",
            "some.module",
            "-l",
            "debug",
            "-n",
            "w1@%h",
            "-P",
            "processes",
            "--max-tasks-per-child",
            "5",
            "--max-memory-per-child",
            "200000",
        ]
    )
    assert (args.loglevel, args.name) == ("debug", "w1@%h")
    assert (args.max_tasks_per_child, args.max_memory_per_child) == (5, 200000)


@pytest.mark.fast
def test_thread_pool_refuses_child_limits(unique_name: str) -> None:
    app = TaskQueue(
        "limits",
        broker_url="memory://",
        redis_url="memory://",
        mongo_url="memory://",
        key_prefix=unique_name,
    )
    with pytest.raises(ConfigurationError, match="process pool"):
        Worker(app, pool="threads", max_tasks_per_child=10)
    assert Worker(app, pool="threads", name="w@%n").name == f"w@{socket.getfqdn().split('.')[0]}"


def _pids(pool: ChildPool, calls: int) -> list[int]:
    # One call at a time, so the child that answers is the one the limits left.
    return [pool.submit(os.getpid).result(timeout=30) for _ in range(calls)]


@pytest.fixture
def child_pool(request: pytest.FixtureRequest) -> Iterator[ChildPool]:
    pool = ChildPool(1, time.sleep, (0,), **request.param)  # no setup in children
    yield pool
    pool.shutdown()


@pytest.mark.fast
@pytest.mark.parametrize("child_pool", [{"max_tasks_per_child": 2}], indirect=True)
def test_child_is_replaced_after_max_tasks(child_pool: ChildPool) -> None:
    first, second, third, fourth, fifth = _pids(child_pool, 5)
    assert first == second and third == fourth, "a child runs its quota of calls"
    assert len({first, third, fifth}) == 3, "then a new child takes its place"
    assert child_pool.retired == 2


@pytest.mark.fast
@pytest.mark.parametrize("child_pool", [{"max_memory_per_child": 1}], indirect=True)
def test_child_above_max_memory_is_replaced_after_its_call(child_pool: ChildPool) -> None:
    pids = _pids(child_pool, 3)
    assert len(set(pids)) == 3, "every call left the child above 1 KiB: each one retires"


@pytest.mark.fast
@pytest.mark.parametrize("child_pool", [{"max_memory_per_child": 10**9}], indirect=True)
def test_child_below_max_memory_is_kept(child_pool: ChildPool) -> None:
    assert len(set(_pids(child_pool, 3))) == 1
    assert child_pool.retired == 0


@pytest.fixture
def tq_env(
    unique_name: str, kafka_bootstrap: str, redis_url: str, mongo_url: str
) -> dict[str, str]:
    return isolated_env(unique_name, kafka_bootstrap, redis_url, mongo_url)


@pytest.fixture
def rapp(tq_env: dict[str, str]) -> Iterator[TaskQueue]:
    application = TaskQueue("tests", env=tq_env)
    register(application)
    application.declare_topics(["default"])
    yield application
    application.result_store.drop()
    application.close()


@pytest.fixture
def rworkers(tq_env: dict[str, str], tmp_path: Path, rapp: TaskQueue) -> Iterator[Workers]:
    pool = Workers(tq_env, tmp_path)
    yield pool
    pool.stop_all()


def test_real_worker_recycles_children_and_expands_its_name(
    rapp: TaskQueue, rworkers: Workers
) -> None:
    worker = rworkers.start(
        "-l",
        "debug",
        "-n",
        "recycler@%h",
        "--max-tasks-per-child",
        "1",
        pool="processes",
        concurrency=1,
    )
    name = f"recycler@{socket.getfqdn()}"
    assert name in rapp.state.live_workers() or wait_for(
        lambda: name in rapp.state.live_workers(), 15
    )
    for i in range(3):
        assert rapp.send_task("t.slow", (f"r{i}", 0)).get(timeout=60) == f"r{i}"
    backend: Any = rapp.state_backend  # Redis: the tasks record their pid there
    client = backend.client
    key = f"{rapp.settings.key_prefix}:runs"
    pids = {client.lrange(f"{key}:r{i}", 0, -1)[0] for i in range(3)}
    assert len(pids) == 3, "each task ran in a fresh child"
    assert "retiring pool child" in worker.output(), "-l debug logs at INFO and below"


def test_inspect_returns_celery_shaped_replies(rapp: TaskQueue, rworkers: Workers) -> None:
    rworkers.start("-n", "inspected@%n", concurrency=1)
    name = f"inspected@{socket.getfqdn().split('.')[0]}"
    inspect = rapp.control.inspect(timeout=5)
    wait_for(lambda: (inspect.ping() or {}).get(name) == {"ok": "pong"}, 30)
    busy = rapp.send_task("t.slow", ("busy", 30))
    wait_for(lambda: bool((inspect.active() or {}).get(name)), 30)

    active = inspect.active()
    assert active is not None
    assert [(j["id"], j["name"]) for j in active[name]] == [(busy.id, "t.slow")]
    assert active[name][0]["time_start"] is not None
    reserved = inspect.reserved()
    assert reserved is not None and busy.id not in [j["id"] for j in reserved[name]]
    registered = inspect.registered()
    assert registered is not None and "t.slow" in registered[name]
    assert not [t for t in registered[name] if t.startswith("taskqueue.")], "built-ins hidden"
    queues = inspect.active_queues()
    assert queues == {name: [{"name": "default", "topic": rapp.settings.topic("default")}]}
    stats = inspect.stats()
    assert stats is not None and stats[name]["pool"] == {
        "implementation": "threads",
        "max-concurrency": 1,
    }
    assert rapp.control.inspect(destination="somebody-else").ping() is None

    cli = subprocess.run(
        [sys.executable, "-m", "taskqueue", "inspect", "registered", "-A", TASKS_APP],
        cwd=ROOT,
        env={**os.environ, **rworkers.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert name in cli.stdout and "t.slow" in cli.stdout
    rapp.control.revoke(busy.id, terminate=True)


# --- remote control of live workers: Celery's remaining inspect and control commands ---


def _short_name(prefix: str) -> str:
    return f"{prefix}@{socket.getfqdn().split('.')[0]}"


def _live(rapp: TaskQueue, name: str) -> None:
    inspect = rapp.control.inspect(timeout=5)
    wait_for(lambda: (inspect.ping() or {}).get(name) == {"ok": "pong"}, 30)


def _size(rapp: TaskQueue, name: str) -> int:
    stats = rapp.control.inspect(timeout=5, destination=name).stats() or {}
    return int(stats[name]["pool"]["max-concurrency"]) if name in stats else -1


def _run_cli(rworkers: Workers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskqueue", *args, "-A", TASKS_APP],
        cwd=ROOT,
        env={**os.environ, **rworkers.env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_inspect_revoked_is_the_shared_set_and_scheduled_is_empty(
    rapp: TaskQueue, rworkers: Workers
) -> None:
    rworkers.start("-n", "revoked-a@%n", concurrency=1)
    rworkers.start("-n", "revoked-b@%n", concurrency=1)
    first, second = _short_name("revoked-a"), _short_name("revoked-b")
    _live(rapp, first)
    _live(rapp, second)
    rapp.control.revoke("never-sent-1")
    rapp.control.revoke(["never-sent-2"])
    revoked = rapp.control.inspect(timeout=5).revoked()
    assert revoked is not None
    assert set(revoked) == {first, second}
    for ids in revoked.values():
        assert {"never-sent-1", "never-sent-2"} <= set(ids), (
            "every worker reports the cluster's set"
        )
    # A countdown waits in Kafka's delay tiers, not in a worker.
    rapp.send_task("t.add", (1, 2), countdown=60)
    assert rapp.control.inspect(timeout=5).scheduled() == {first: [], second: []}
    cli = _run_cli(rworkers, "inspect", "revoked")
    assert cli.returncode == 0, cli.stderr
    assert "never-sent-1" in cli.stdout and first in cli.stdout


def test_pool_grow_and_shrink_resize_a_live_worker(rapp: TaskQueue, rworkers: Workers) -> None:
    rworkers.start("-n", "resized@%n", concurrency=2)
    name = _short_name("resized")
    _live(rapp, name)
    assert rapp.control.pool_grow(3, destination=name, reply=True) == [
        {name: {"ok": "pool will grow"}}
    ]
    wait_for(lambda: _size(rapp, name) == 5, 30)
    refused = rapp.control.pool_shrink(-1, destination=[name], reply=True)
    assert refused is not None and "pool_shrink(n=-1)" in refused[0][name]["error"]
    refused = rapp.control.pool_shrink(5, destination=[name], reply=True)
    assert refused is not None and "keeps at least one" in refused[0][name]["error"]
    cli = _run_cli(rworkers, "control", "pool_shrink", "4", "-d", name)
    assert cli.returncode == 0, cli.stderr
    assert "pool will shrink" in cli.stdout
    wait_for(lambda: _size(rapp, name) == 1, 30)
    assert rapp.send_task("t.add", (2, 3)).get(timeout=30) == 5, "one thread still works"


def test_autoscale_grows_under_load_and_shrinks_when_idle(
    rapp: TaskQueue, rworkers: Workers
) -> None:
    rworkers.start(
        "-n", "scaled@%n", "--autoscale", "4,1", "--autoscale-keepalive", "1", concurrency=1
    )
    name = _short_name("scaled")
    _live(rapp, name)
    assert _size(rapp, name) == 1, "autoscale starts at its min"
    jobs = [rapp.send_task("t.slow", (f"load{i}", 3)) for i in range(8)]
    wait_for(lambda: _size(rapp, name) == 4, 30)
    active = rapp.control.inspect(timeout=5).active() or {}
    assert len(active.get(name, [])) >= 2, "the new threads run jobs"
    assert [j.get(timeout=60) for j in jobs] == [f"load{i}" for i in range(8)]
    wait_for(lambda: _size(rapp, name) == 1, 30)
    refused = rapp.control.pool_grow(1, destination=name, reply=True)
    assert refused is not None and "not supported with autoscale" in refused[0][name]["error"]
    assert rapp.control.autoscale(3, 2, destination=name, reply=True) == [
        {name: {"ok": "autoscale now max=3 min=2"}}
    ]
    wait_for(lambda: _size(rapp, name) == 2, 30)


def test_add_and_cancel_consumer_on_a_live_worker(rapp: TaskQueue, rworkers: Workers) -> None:
    rworkers.start("-n", "consumer@%n", concurrency=2)
    name = _short_name("consumer")
    _live(rapp, name)
    inspect = rapp.control.inspect(timeout=5)
    topic = rapp.settings.topic("extra")
    rapp.declare_topics(["extra"])  # a job waits there before the worker takes the queue
    early = rapp.send_task("t.add", (1, 1), queue="extra")
    assert rapp.control.add_consumer("extra", destination=name, reply=True, timeout=30) == [
        {name: {"ok": "add consumer extra"}}
    ]
    assert early.get(timeout=60) == 2
    assert inspect.active_queues() == {
        name: [
            {"name": "default", "topic": rapp.settings.topic("default")},
            {"name": "extra", "topic": topic},
        ]
    }

    running = rapp.send_task("t.slow", ("draining", 3), queue="extra")
    wait_for(lambda: [j["id"] for j in (inspect.active() or {}).get(name, [])] == [running.id], 30)
    assert rapp.control.cancel_consumer("extra", reply=True) == [
        {name: {"ok": "no longer consuming from extra"}}
    ]
    assert (inspect.active_queues() or {}).get(name) == [
        {"name": "default", "topic": rapp.settings.topic("default")}
    ]
    later = rapp.send_task("t.add", (2, 2), queue="extra")
    assert running.get(timeout=60) == "draining", "the in-flight job finishes"
    group = f"{rapp.settings.topic_prefix}workers.extra"
    partitions = [(topic, p) for p in range(rapp.settings.partitions)]

    def waiting() -> int:
        return sum(rapp.transport.consumer_lag({topic: group}, partitions, 5).values())

    # Committed before the group was left: only the job sent after the cancel waits.
    wait_for(lambda: waiting() == 1, 30)
    assert rapp.AsyncResult(later.id).state == "PENDING"

    def extra_partitions() -> list[str]:
        stats = inspect.stats() or {}
        return [p for p in stats.get(name, {}).get("partitions", []) if p.startswith(topic)]

    wait_for(lambda: not extra_partitions(), 30)  # the group was left: none assigned here
    refused = rapp.control.cancel_consumer("nope", reply=True)
    assert refused == [{name: {"error": "not consuming from queue 'nope' (consuming: default)"}}]
    assert rapp.send_task("t.add", (3, 3)).get(timeout=30) == 6


def test_remote_shutdown_is_warm(rapp: TaskQueue, rworkers: Workers) -> None:
    worker = rworkers.start("-n", "stopped@%n", concurrency=1)
    name = _short_name("stopped")
    _live(rapp, name)
    running = rapp.send_task("t.slow", ("last", 2))
    inspect = rapp.control.inspect(timeout=5)
    wait_for(lambda: bool((inspect.active() or {}).get(name)), 30)
    assert rapp.control.shutdown(destination=name, reply=True) == [{name: {"ok": "shutting down"}}]
    assert worker.wait(60) == 0, worker.output()
    assert running.get(timeout=10) == "last", "the running job finished before the exit"
    assert "remote shutdown" in worker.output()


def test_control_commands_need_the_token(
    tq_env: dict[str, str], tmp_path: Path, rapp: TaskQueue
) -> None:
    env = {**tq_env, "TASKQUEUE_CONTROL_TOKEN": "right-token"}
    secured = Workers(env, tmp_path)
    try:
        secured.start("-n", "secured@%n", concurrency=2)
        name = _short_name("secured")
        wrong = TaskQueue("tests", env={**tq_env, "TASKQUEUE_CONTROL_TOKEN": "wrong-token"})
        right = TaskQueue("tests", env=env)
        try:
            wait_for(lambda: name in right.state.live_workers(), 30)
            _live(right, name)
            refused = wrong.control.pool_grow(2, destination=name, reply=True)
            assert refused == [{name: {"error": "missing or wrong control token"}}]
            assert wrong.control.shutdown(destination=name, reply=True) == [
                {name: {"error": "missing or wrong control token"}}
            ]
            assert _size(right, name) == 2, "the refused call changed nothing"
            assert right.control.pool_grow(1, destination=name, reply=True) == [
                {name: {"ok": "pool will grow"}}
            ]
        finally:
            wrong.close()
            right.close()
    finally:
        secured.stop_all()


def test_pool_grow_and_shrink_on_the_process_pool(rapp: TaskQueue, rworkers: Workers) -> None:
    rworkers.start("-n", "children@%n", pool="processes", concurrency=1)
    name = _short_name("children")
    _live(rapp, name)
    assert rapp.control.pool_grow(1, destination=name, reply=True) == [
        {name: {"ok": "pool will grow"}}
    ]
    wait_for(lambda: _size(rapp, name) == 2, 30)
    jobs = [rapp.send_task("t.slow", (f"child{i}", 3)) for i in range(2)]
    inspect = rapp.control.inspect(timeout=5)
    wait_for(lambda: len((inspect.active() or {}).get(name, [])) == 2, 30)  # both at once
    assert rapp.control.pool_shrink(1, destination=name, reply=True) == [
        {name: {"ok": "pool will shrink"}}
    ]
    assert [j.get(timeout=60) for j in jobs] == ["child0", "child1"], "no running body is cut"
    wait_for(lambda: _size(rapp, name) == 1, 30)
    assert rapp.send_task("t.add", (4, 4)).get(timeout=60) == 8
