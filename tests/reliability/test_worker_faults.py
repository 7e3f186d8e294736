"""Workers killed, stopped and added under load: no acknowledged job is
lost; a warm shutdown and a rebalance repeat none."""

from __future__ import annotations

import signal

import pytest

from taskqueue import TaskQueue
from tests.taskqueue.conftest import wait_for

from .conftest import FaultWorkers
from .harness import run_scenario

pytestmark = pytest.mark.timeout(420)


def test_a_worker_sigkilled_under_load_loses_no_job(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    """Its partitions move to the other worker after the session timeout; the
    jobs it had started run again there (counted, not asserted: at least
    once is the promise)."""
    victim = fworkers.start(concurrency=4)
    fworkers.start(concurrency=4)

    def kill() -> None:
        victim.signal(signal.SIGKILL)
        victim.wait(30)

    run_scenario(fapp, "worker SIGKILL under load", kill, seconds=0.05)


def test_a_worker_sigtermed_under_load_finishes_its_jobs_and_repeats_none(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    leaving = fworkers.start(concurrency=4)
    fworkers.start(concurrency=4)
    exit_codes: list[int] = []

    def stop() -> None:
        leaving.signal(signal.SIGTERM)
        exit_codes.append(leaving.wait(60))

    report = run_scenario(fapp, "worker SIGTERM under load (warm)", stop, seconds=0.05)
    assert exit_codes == [0], leaving.output()
    assert "SIGTERM: warm shutdown" in leaving.output()
    assert report.duplicates == 0, report.executions


def test_a_worker_added_under_load_takes_partitions_and_repeats_none(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    first = fworkers.start(concurrency=4)

    def add_worker() -> None:
        fworkers.start(concurrency=4)

    report = run_scenario(fapp, "worker added under load (rebalance)", add_worker, seconds=0.05)
    # The join may finish after the last job: wait for it, generously.
    wait_for(lambda: "partitions revoked" in first.output(), 120)
    assert report.duplicates == 0, report.executions
