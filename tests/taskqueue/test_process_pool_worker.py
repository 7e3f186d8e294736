"""A worker with the process pool, on the real services, when a child dies.

A child killed mid-job (the OOM killer, a crash in C code) must cost that
job only: it ends FAILURE with an error that says what happened, the child is
replaced and the worker keeps running jobs. A cold shutdown terminates the
children, and their unfinished jobs run again elsewhere.
"""

from __future__ import annotations

import os
import signal

import pytest

from taskqueue import State, TaskQueue

from .conftest import Workers, wait_for
from .policy_app import runs


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_child_killed_mid_job_fails_that_job_clearly_and_the_worker_goes_on(
    app: TaskQueue, workers: Workers
) -> None:
    worker = workers.start(pool="processes", concurrency=2)
    doomed = app.tasks["t.slow"].delay("doomed", 60)
    wait_for(lambda: runs(app, "doomed") != [], 60)
    [pid] = runs(app, "doomed")

    os.kill(int(pid), signal.SIGKILL)

    with pytest.raises(Exception, match="WorkerLostError") as failed:
        doomed.get(timeout=60)
    assert f"pid {pid}) was killed by SIGKILL" in str(failed.value)
    assert doomed.state == State.FAILURE
    # The worker lives on with a new child: the next jobs run.
    results = [app.tasks["t.add"].delay(i, 1) for i in range(4)]
    assert [r.get(timeout=60) for r in results] == [1, 2, 3, 4]
    assert worker.proc.poll() is None
    assert runs(app, "doomed") == [pid]  # a FAILURE is final: not run again


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
