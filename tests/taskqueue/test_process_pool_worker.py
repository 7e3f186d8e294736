"""A worker with the process pool, on the real services, when a child dies.

A child killed mid-job (the OOM killer, a crash in C code) does not finish
its job: the child is replaced and the job runs again, unless it killed
``max_child_deaths`` children (then it is dead-lettered as poison). Revoke
with terminate and a hard time limit kill the child running the job. The
worker keeps running jobs through all of it. A cold shutdown terminates the
children, and their unfinished jobs run again elsewhere.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from taskqueue import State, TaskQueue

from .child_tasks import APP as CHILD_APP
from .child_tasks import register_child_tasks
from .conftest import WorkerProcess, Workers, wait_for
from .policy_app import runs
from .test_worker_failures import read_topic


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def capp(app: TaskQueue) -> TaskQueue:
    """The test's app with the tasks that hurt their child."""
    register_child_tasks(app)
    return app


def start_worker(workers: Workers) -> WorkerProcess:
    return workers.start("-A", CHILD_APP, pool="processes", concurrency=2)


def _child_running(app: TaskQueue, tag: str, count: int = 1) -> int:
    wait_for(lambda: len(runs(app, tag)) >= count, 60)
    return int(runs(app, tag)[count - 1])


def test_a_child_killed_mid_job_does_not_finish_it_the_job_runs_again(
    capp: TaskQueue, workers: Workers, tmp_path: Path
) -> None:
    worker = start_worker(workers)
    killed = capp.tasks["t.slow"].delay("doomed", 60)
    pid = _child_running(capp, "doomed")

    os.kill(pid, signal.SIGKILL)

    # Not a FAILURE: the job runs again in a new child (cut short here).
    second = _child_running(capp, "doomed", 2)
    assert second != pid and _gone(pid)
    assert killed.state == State.STARTED
    capp.control.revoke(killed.id, terminate=True)

    # A body that kills its own child on its first run only: it succeeds.
    once = capp.tasks["c.dies_once"].delay("once", str(tmp_path / "died"))
    assert once.get(timeout=60) == "survived"
    first, rerun = runs(capp, "once")
    assert first != rerun
    results = [capp.tasks["t.add"].delay(i, 1) for i in range(4)]
    assert [r.get(timeout=60) for r in results] == [1, 2, 3, 4]
    assert worker.proc.poll() is None


def test_a_job_that_keeps_killing_its_child_is_dead_lettered_as_poison(
    capp: TaskQueue, workers: Workers
) -> None:
    worker = start_worker(workers)
    poison = capp.tasks["c.always_dies"].delay("poison")

    with pytest.raises(Exception, match="poison job: 3 pool processes died") as failed:
        poison.get(timeout=90)
    assert "was killed by SIGKILL" in str(failed.value)
    assert poison.state == State.FAILURE
    assert len(set(runs(capp, "poison"))) == 3  # three children, each replaced
    [dead] = read_topic(capp, capp.settings.dead_letter_topic("default"), 1)
    headers = dict(dead.headers())
    assert headers["tq-dead-reason"] == b"poison"
    assert headers["tq-dead-child-deaths"] == b"3"
    assert capp.tasks["t.add"].delay(1, 1).get(timeout=60) == 2
    assert worker.proc.poll() is None


def test_revoke_terminate_kills_the_child_running_the_job(
    capp: TaskQueue, workers: Workers
) -> None:
    worker = start_worker(workers)
    revoked = capp.tasks["t.slow"].delay("term", 60)
    pid = _child_running(capp, "term")

    capp.control.revoke(revoked.id, terminate=True)

    wait_for(lambda: _gone(pid), 30)
    assert revoked.state == State.REVOKED
    assert capp.tasks["t.add"].delay(2, 2).get(timeout=60) == 4
    assert runs(capp, "term:done") == [] and len(runs(capp, "term")) == 1  # not run again
    assert worker.proc.poll() is None


def test_a_body_stuck_past_its_hard_limit_has_its_child_killed(
    capp: TaskQueue, workers: Workers
) -> None:
    worker = start_worker(workers)
    stuck = capp.tasks["c.stuck"].delay("stuck")
    pid = _child_running(capp, "stuck")

    with pytest.raises(Exception, match="TimeLimitExceeded"):
        stuck.get(timeout=60)
    assert stuck.state == State.FAILURE
    wait_for(lambda: _gone(pid), 30)
    assert capp.tasks["t.add"].delay(3, 3).get(timeout=60) == 6
    assert runs(capp, "stuck:done") == [] and len(runs(capp, "stuck")) == 1  # not run again
    assert worker.proc.poll() is None


def test_cold_shutdown_terminates_children_and_their_job_runs_again(
    app: TaskQueue, workers: Workers
) -> None:
    first = workers.start(pool="processes", concurrency=2)
    result = app.tasks["t.slow"].delay("cold", 5.0)
    wait_for(lambda: runs(app, "cold") != [], 60)
    [pid] = runs(app, "cold")

    first.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: warm shutdown" in first.output(), 10)
    first.signal(signal.SIGTERM)

    first.wait(20)
    assert "second signal: cold shutdown" in first.output()
    wait_for(lambda: _gone(int(pid)), 10)
    assert runs(app, "cold:done") == []  # interrupted, not finished
    workers.start(pool="processes", concurrency=2)
    assert result.get(timeout=60) == "cold"
    assert len(runs(app, "cold")) == 2
    # Only the second run finished: the terminated child never came back to it.
    assert len(runs(app, "cold:done")) == 1
