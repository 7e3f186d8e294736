"""Jobs that hurt the worker running them, under load: a process-pool child
killed by the OS, a body that kills every child it gets, a body that hangs.
The worker replaces what it lost and every other job succeeds."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from taskqueue import TaskQueue
from tests.taskqueue.policy_app import runs
from tests.taskqueue.rules.conftest import read_topic

from .conftest import FaultWorkers
from .harness import run_scenario, wait_final
from .tasks_app import evidence, running_key

pytestmark = pytest.mark.timeout(300)


def child_running(app: TaskQueue, job_id: str) -> int:
    """The pid of the pool child running the job's body, once it runs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = evidence(app).hget(running_key(app), job_id)
        if pid is not None:
            return int(pid)
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never started")


def test_pool_children_killed_mid_job_rerun_it_and_a_child_killer_is_dead_lettered(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    worker = fworkers.start(pool="processes", concurrency=4)
    poison = []

    def inject() -> dict[str, Any]:
        # A body long enough to be killed mid-job, as the OOM killer would.
        victim = fapp.tasks["rel.work"].delay(-1, 2.0)
        os.kill(child_running(fapp, victim.id), signal.SIGKILL)
        poison.append(fapp.tasks["c.always_dies"].delay("poison"))
        return {victim.id: -1}

    report = run_scenario(
        fapp, "pool child SIGKILL mid-job; a job killing its child 3 times", inject
    )
    [job] = poison
    wait_final(fapp, [job.id])
    doc = fapp.result_store.get(job.id)
    assert doc is not None and doc["state"] == "FAILURE"
    assert "poison job: 3 pool processes died" in doc["error"]["exc_message"]
    assert len(set(runs(fapp, "poison"))) == 3  # three children, each replaced
    [dead] = read_topic(fapp, fapp.settings.dead_letter_topic("default"), 1, 60)
    assert dict(dead.headers)["tq-dead-reason"] == b"poison"
    # The killed body ran again, in another child, and only it did.
    assert report.duplicates == 1, report.executions
    assert worker.proc.poll() is None


def test_a_hung_job_without_a_time_limit_fails_at_the_processing_deadline(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    """``task_time_limit`` bounds every body (generous by default, 3 s here):
    the hung job fails there and the load goes on around it."""
    worker = fworkers.start(concurrency=4, env={"TASKQUEUE_TASK_TIME_LIMIT": "3"})
    hung = []
    run_scenario(
        fapp,
        "hung job, no time limit of its own",
        lambda: hung.append(fapp.tasks["rel.hang"].delay()),
    )
    [job] = hung
    wait_final(fapp, [job.id])
    doc = fapp.result_store.get(job.id)
    assert doc is not None and doc["state"] == "FAILURE"
    assert doc["error"]["exc_type"] == "TimeLimitExceeded"
    assert worker.proc.poll() is None
