"""A store that goes down stops no worker and loses no job.

Each rule runs on the in-memory stores taken down by a switch (fast tier)
and on the real Redis and MongoDB behind a relay that the test cuts, as a
network partition or a stopped server would (the services themselves run
on, for the other tests). During the outage the worker holds its
partitions, starts nothing it could not record, reports itself unhealthy
and stays in its group; when the store answers it goes on, and every job
ends once, with its result stored.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from taskqueue import TaskQueue
from taskqueue.control.client import ControlClient
from taskqueue.states import SUCCESS
from tests.support.network_cut import NetworkCut
from tests.support.private_services import free_port
from tests.support.store_switch import switchable_results, switchable_state

from . import tasks
from .conftest import RunningWorker, rule_settings, wait_for


@dataclass
class Outage:
    """The app under test and a way to take each of its stores down."""

    app: TaskQueue
    down: Callable[[str], None]
    up: Callable[[str], None]


def _relay(url: str) -> NetworkCut:
    parts = urlsplit(url)
    return NetworkCut(parts.hostname or "127.0.0.1", parts.port or 0)


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.fast), "real"])
def outage(request: pytest.FixtureRequest, unique_name: str) -> Iterator[Callable[..., Outage]]:
    made: list[tuple[TaskQueue, list[NetworkCut]]] = []

    def make(**settings: Any) -> Outage:
        common = rule_settings(unique_name, **{"heartbeat_interval": 0.3, **settings})
        if request.param == "memory":
            app = TaskQueue(
                "outage",
                broker_url="memory://",
                redis_url="memory://",
                mongo_url="memory://",
                **common,
            )
            state = app._state = switchable_state(app.state)  # type: ignore[assignment]
            results = app._results = switchable_results(app.result_store)  # type: ignore[assignment]
            switches = {"state": state, "results": results}
            relays: list[NetworkCut] = []

            def down(store: str) -> None:
                switches[store].down = True

            def up(store: str) -> None:
                switches[store].down = False

        else:
            redis_relay = _relay(request.getfixturevalue("redis_url"))
            mongo_relay = _relay(request.getfixturevalue("mongo_url"))
            relays = [redis_relay, mongo_relay]
            app = TaskQueue(
                "outage",
                broker_url=f"kafka://{request.getfixturevalue('kafka_bootstrap')}",
                redis_url=redis_relay.url("redis", "/0"),
                mongo_url=mongo_relay.url("mongodb"),
                kafka_consumer_options=json.dumps(
                    {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
                ),
                **common,
            )
            cuts = {"state": redis_relay, "results": mongo_relay}

            def down(store: str) -> None:
                cuts[store].cut()

            def up(store: str) -> None:
                cuts[store].restore()

        tasks.register(app)
        app.declare_topics(["default"])
        made.append((app, relays))
        return Outage(app, down, up)

    yield make
    for app, relays in made:
        for relay in relays:
            relay.restore()
        app.close()
        for relay in relays:
            relay.close()


def _runs_per_job(app: TaskQueue) -> Counter[tuple[Any, ...]]:
    return Counter(args for _task, args, _attempt, _at in tasks.runs(app, "rules.add"))


def _all_succeeded(app: TaskQueue, ids: list[str]) -> bool:
    return all(app.AsyncResult(i).state == SUCCESS.value for i in ids)


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_state_store_outage_holds_the_batch_and_resumes(outage: Callable[..., Outage]) -> None:
    port = free_port()
    o = outage(health_port=port, outage_shutdown_after=0)
    app = o.app
    with RunningWorker(app) as w:
        first = [tasks_add(app, i) for i in range(3)]
        wait_for(lambda: _all_succeeded(app, first), what="jobs before the outage")
        assert _health(port)[0] == 200

        o.down("state")
        held = [tasks_add(app, i) for i in range(100, 120)]
        loop = w.worker.loop
        assert loop is not None
        wait_for(lambda: loop.snapshot.problem, what="the worker to report the outage")
        status, body = _health(port)
        assert status == 503 and body["status"] == "unhealthy"
        assert "unavailable" in body["problem"]
        assert not any(r[1][0] >= 100 for r in tasks.runs(app, "rules.add")), (
            "a job ran while its RECEIVED state could not be written"
        )

        o.up("state")
        wait_for(lambda: _all_succeeded(app, held), timeout=60, what="jobs held in the outage")
        wait_for(lambda: not loop.snapshot.problem, what="the worker to report healthy")
        assert _health(port)[0] == 200
        assert loop.outage.outages >= 1
    for job_id in held:
        assert app.AsyncResult(job_id).get(timeout=10) is not None
    runs = _runs_per_job(app)
    assert all(runs[(i, 1)] == 1 for i in range(100, 120)), runs


def test_state_store_outage_while_jobs_run_records_them_once(
    outage: Callable[..., Outage],
) -> None:
    o = outage(outage_shutdown_after=0)
    app = o.app
    gate = f"{app.settings.key_prefix}-gate"
    with RunningWorker(app, concurrency=2) as w:
        running = [app.tasks["rules.hold"].delay(gate).id for _ in range(4)]
        wait_for(lambda: len(tasks.runs(app, "rules.hold")) >= 2, what="bodies to start")
        o.down("state")
        tasks.GATES[gate].set()  # they finish while nobody can record them
        loop = w.worker.loop
        assert loop is not None
        wait_for(lambda: loop.snapshot.problem, what="the worker to report the outage")
        o.up("state")
        wait_for(lambda: _all_succeeded(app, running), timeout=60, what="held outcomes")
    for job_id in running:
        assert app.AsyncResult(job_id).get(timeout=10) == gate
    assert len(tasks.runs(app, "rules.hold")) == 4, "a job ran twice"


def test_result_store_outage_keeps_results_unacked_until_stored(
    outage: Callable[..., Outage],
) -> None:
    o = outage(outage_shutdown_after=0, control_enabled=True, rabbitmq_url="")
    app = o.app
    with RunningWorker(app) as w:
        o.down("results")
        ids = [tasks_add(app, i) for i in range(200, 210)]
        loop = w.worker.loop
        assert loop is not None
        wait_for(lambda: "unavailable" in loop.snapshot.problem, what="the outage")
        # Redis shows a final state only once the result store holds it.
        assert not any(app.AsyncResult(i).state == SUCCESS.value for i in ids)
        client = ControlClient(app, timeout=5)
        try:
            answers = wait_for(client.ping, what="a ping answer")
            (answer,) = answers
            assert answer.ok and not answer.reply.healthy
            assert "unavailable" in answer.reply.problem
            heartbeat = wait_for(
                lambda: app.state.workers().get(w.worker.name, {}).get("problem"),
                what="the heartbeat to carry the problem",
            )
            assert "unavailable" in heartbeat
            o.up("results")
            wait_for(lambda: _all_succeeded(app, ids), timeout=60, what="stored results")
            wait_for(lambda: client.ping()[0].reply.healthy, what="the ping to say healthy again")
        finally:
            client.close()
    assert [app.AsyncResult(i).get(timeout=10) for i in ids] == [i + 1 for i in range(200, 210)]
    runs = _runs_per_job(app)
    assert all(runs[(i, 1)] == 1 for i in range(200, 210)), runs


def test_a_long_outage_shuts_the_worker_down_warm(outage: Callable[..., Outage]) -> None:
    o = outage(outage_shutdown_after=1.0)
    app = o.app
    o.down("state")
    ids = [tasks_add(app, i) for i in range(300, 305)]
    w = RunningWorker(app)
    with w:
        wait_for(lambda: not w._thread.is_alive(), timeout=60, what="the worker to stop itself")
    assert w.worker.gave_up
    o.up("state")
    with RunningWorker(app, group=None):
        wait_for(lambda: _all_succeeded(app, ids), timeout=60, what="a new worker to run them")
    runs = _runs_per_job(app)
    assert all(runs[(i, 1)] == 1 for i in range(300, 305)), runs


def tasks_add(app: TaskQueue, i: int) -> str:
    return str(app.tasks["rules.add"].delay(i, 1).id)
