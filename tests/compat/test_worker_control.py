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
