"""Deploys and rebalances under load: a rolling deploy to a version with a
new task and a new queue list, and a worker added while jobs longer than
the revoke wait run. Nothing is lost, no follow-up is sent twice under
different ids, and (no worker dies) no body runs twice."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.canvas import follow_up_id_for
from tests.taskqueue.conftest import WorkerProcess, wait_for

from . import tasks_app_v2
from .conftest import FaultWorkers
from .harness import Submit, run_scenario
from .tasks_app import evidence, running_key

pytestmark = pytest.mark.timeout(420)

UNKNOWN_TASK_GRACE = "60"
"""Old workers send the new task's jobs back through the tiers every
tenth of this (6 s) until a new worker takes them; the whole deploy takes
well under it, so none may end NotRegistered."""


def rolling_deploy_mix(app: TaskQueue) -> Submit:
    """The load during the deploy, as a new client sends it: the new task on
    ``default`` (old workers do not know it), jobs on ``high`` (only new
    workers serve it), jobs whose link is the new task (an old worker sends
    that follow-up), and plain jobs."""
    work, work_v2 = app.tasks["rel.work"], app.tasks[tasks_app_v2.NEW_TASK]
    seconds = 0.05

    def submit(i: int) -> Mapping[str, Any]:
        kind = i % 6
        if kind == 0:
            return {work_v2.apply_async((i, seconds)).id: i}
        if kind == 1:
            return {work.apply_async((i, seconds), queue="high").id: i}
        if kind == 2:
            parent = work.apply_async((i, seconds), link=work_v2.si(-i, seconds))
            return {parent.id: i, follow_up_id_for(parent.id, 0, "link/0"): -i}
        return {work.apply_async((i, seconds)).id: i}

    return submit


def test_a_rolling_deploy_with_a_new_task_and_queue_loses_and_repeats_nothing(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    """Old workers (``-Q default``) are replaced one by one by new ones
    (``-Q default,high``, one more task): start a new one, SIGTERM an old
    one, repeat, while a new client sends the new task all along."""
    tasks_app_v2.register_new_task(fapp)
    fapp.declare_topics(["high"])
    env = {"TASKQUEUE_UNKNOWN_TASK_GRACE": UNKNOWN_TASK_GRACE}
    old = [fworkers.start(concurrency=4, env=env) for _ in range(2)]
    exit_codes: list[int] = []

    def deploy() -> None:
        for leaving in old:
            fworkers.start(app=tasks_app_v2.APP, queues="default,high", concurrency=4, env=env)
            leaving.signal(signal.SIGTERM)
            exit_codes.append(leaving.wait(60))

    report = run_scenario(
        fapp,
        "rolling deploy: 2 old workers swapped for 2 new (new task, new queue)",
        deploy,
        jobs=360,
        rate=20.0,
        inject_at=1 / 6,
        submit=rolling_deploy_mix(fapp),
        queues=("default", "high"),
    )
    assert exit_codes == [0, 0], [w.output()[-2000:] for w in old]
    # The old version met the new task and kept its jobs for a newer worker.
    assert any("is not registered here" in w.output() for w in old)
    # Warm shutdowns and rebalances only: no body ran twice.
    assert report.duplicates == 0, {j: n for j, n in report.executions.items() if n > 1}


def running_bodies(app: TaskQueue) -> int:
    return int(evidence(app).hlen(running_key(app)))


def test_a_rebalance_while_jobs_outlive_the_revoke_wait_repeats_none(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    """The revoke wait is min(shutdown_grace, 15 s): 2 s here, and every
    fourth job runs 5 s. When a worker joins, the first one releases its
    partitions with such jobs still running; their new owner receives them
    again and must not start them while their first run goes on (the owner
    lease), so no body runs twice."""
    env = {"TASKQUEUE_SHUTDOWN_GRACE": "2"}
    first = fworkers.start(concurrency=10, env=env)
    joined: list[WorkerProcess] = []

    def submit(i: int) -> Mapping[str, Any]:
        seconds = 5.0 if i % 4 == 0 else 0.05
        return {fapp.tasks["rel.work"].apply_async((i, seconds)).id: i}

    def add_worker() -> None:
        # Only when long jobs run: they are what outlives the revoke wait.
        wait_for(lambda: running_bodies(fapp) >= 4, 60)
        joined.append(fworkers.start(concurrency=10, env=env))

    report = run_scenario(
        fapp,
        "worker added while 5 s jobs outlive a 2 s revoke wait",
        add_worker,
        jobs=100,
        rate=8.0,
        inject_at=0.2,
        submit=submit,
        queues=("default",),
    )
    wait_for(lambda: "partitions revoked" in first.output(), 120)
    # The scenario did what it is for: a copy of a job still running on the
    # first worker reached the new one, which held it instead of running it.
    held = "is owned by another live worker"
    assert any(held in w.output() for w in (first, *joined)), joined[0].output()[-3000:]
    assert report.duplicates == 0, {j: n for j, n in report.executions.items() if n > 1}
