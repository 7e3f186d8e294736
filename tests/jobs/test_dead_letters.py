"""Dead-lettered jobs sent back: ``requeue_jobs --from-dlq`` and the admin action,
on real Kafka with a real worker.

The dead letter is real: a job of a provider the workers no longer run
(``providers.retired``) is dead-lettered by the worker as an unknown task.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from config.environment import PROJECT_ROOT
from jobs.models import Job
from taskqueue import TaskQueue

from .conftest import stop, wait_for, wait_for_line

pytestmark = pytest.mark.django_db(transaction=True)


class Worker:
    """A `manage.py worker` on the default queue that a test starts and stops."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.proc = env, log, None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--queues", "default", "-c", "2"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_line(self.proc, self.log, "ready", 60)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
            with open(self.log, "a") as out:
                out.write("\n--- stopped ---\n")


@pytest.fixture
def default_worker(
    subprocess_env: dict[str, str], jobs_app: TaskQueue, tmp_path: Path
) -> Iterator[Worker]:
    # The retired provider's jobs fail at once instead of coming back
    # through the delay tiers for the default ten minutes.
    env = {**subprocess_env, "TASKQUEUE_UNKNOWN_TASK_GRACE": "0"}
    worker = Worker(env, tmp_path / "worker.log")
    yield worker
    worker.stop()


def _requeue(*args: str) -> str:
    out = io.StringIO()
    call_command("requeue_jobs", *args, stdout=out)
    return out.getvalue()


def _dead_ids(app: TaskQueue) -> list[str]:
    return [e.id for e in app.dead_letters("default").list()]


def _dead_letter_a_job(app: TaskQueue, owner: Any, worker: Worker) -> Job:
    job = Job.objects.create(owner=owner, provider="retired", params={})
    app.send_task("providers.retired", args=[{}], task_id=str(job.pk), queue="default")
    wait_for(lambda: str(job.pk) in _dead_ids(app), 60, "the dead letter", worker.log)
    return job


def test_from_dlq_lists_with_dry_run_replays_and_is_idempotent(
    alice: Any, jobs_app: TaskQueue, default_worker: Worker
) -> None:
    default_worker.start()
    job = _dead_letter_a_job(jobs_app, alice, default_worker)
    default_worker.stop()  # the replayed record waits in its queue

    out = _requeue("--from-dlq", "--queue", "default", "--dry-run")
    assert "1 dead letter(s) selected in default (dry run" in out, out
    assert f"{job.pk} providers.retired [default] unknown-task" in out, out
    assert "would replay 1" in out
    assert "0 dead letter(s)" in _requeue("--from-dlq", "--provider", "quote", "--dry-run")
    assert "0 dead letter(s)" in _requeue(
        "--from-dlq", "--ids", "00000000-0000-0000-0000-000000000001", "--dry-run"
    )
    assert _dead_ids(jobs_app) == [str(job.pk)], "a dry run replays nothing"

    out = _requeue("--from-dlq", "--provider", "retired", "--ids", str(job.pk), "--limit", "5")
    # One attempt: the worker stored it as FAILURE (NotRegistered).
    assert f"{job.pk} providers.retired [default] unknown-task, 1 attempt(s): replayed" in out
    assert out.rstrip().endswith("replayed 1"), out
    job.refresh_from_db()
    assert job.state == "PENDING" and job.queued_at is not None and job.error == ""
    assert _dead_ids(jobs_app) == []

    again = _requeue("--from-dlq")
    assert "0 dead letter(s) selected" in again and again.rstrip().endswith("replayed 0")

    # The replayed record really went back to its queue: a worker takes it
    # (and, the task being unknown, dead-letters it again).
    default_worker.start()
    wait_for(lambda: str(job.pk) in _dead_ids(jobs_app), 60, "the replayed job", default_worker.log)


def test_admin_action_sends_dead_lettered_jobs_back(
    client: Any, staff: Any, alice: Any, jobs_app: TaskQueue, default_worker: Worker
) -> None:
    default_worker.start()
    job = _dead_letter_a_job(jobs_app, alice, default_worker)
    default_worker.stop()
    other = Job.objects.create(owner=alice, provider="quote", params={"count": 1})
    client.force_login(staff)
    response = client.post(
        "/admin/jobs/job/",
        {"action": "replay_dead_letters", "_selected_action": [str(job.pk), str(other.pk)]},
        follow=True,
    )
    notes = [str(m) for m in response.context["messages"]]
    assert any("replayed 1 dead-lettered job(s); 1 not in a dead-letter topic" in n for n in notes)
    assert _dead_ids(jobs_app) == []
    job.refresh_from_db()
    assert job.state == "PENDING"
    detail = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert b"answered by" in detail.content
