"""Periodic schedules: validation, admin, and a real beat process making Job rows.

The beat test runs two `manage.py beat` processes (one leads) and a worker
on the test database; a schedule with a 1-second interval must create Job
rows through ``services.submit``, exactly one per beat tick.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from config.environment import PROJECT_ROOT
from jobs.models import Job, PeriodicSchedule
from jobs.schedules import DatabaseSchedule, entry_of
from taskqueue import TaskQueue
from taskqueue.beat import _NAMESPACE, Beat, Crontab

from .conftest import stop, wait_for, wait_for_line


def _schedule(owner: Any, **fields: Any) -> PeriodicSchedule:
    fields.setdefault("name", "quotes")
    fields.setdefault("provider", "quote")
    fields.setdefault("params", {"count": 1})
    return PeriodicSchedule(owner=owner, **fields)


@pytest.mark.django_db
def test_a_schedule_is_validated_by_its_provider_and_the_crontab_parser(alice: Any) -> None:
    with pytest.raises(ValidationError) as bad:
        _schedule(alice, params={"count": 0, "colour": 1}, crontab="61 * * * *").save()
    errors = bad.value.message_dict
    assert any("count" in m and "minimum" in m for m in errors["params"]), errors
    assert any("colour" in m for m in errors["params"]), errors
    assert "crontab" in errors
    with pytest.raises(ValidationError) as neither:
        _schedule(alice).save()
    assert "interval_seconds" in neither.value.message_dict
    with pytest.raises(ValidationError) as both:
        _schedule(alice, interval_seconds=5, crontab="* * * * *").save()
    assert "interval_seconds" in both.value.message_dict
    with pytest.raises(ValidationError) as unknown:
        _schedule(alice, provider="nope", interval_seconds=5).save()
    assert "provider" in unknown.value.message_dict

    ok = _schedule(alice, crontab=" */15 9-17 * * 1-5 ")
    ok.save()
    assert ok.params["page_size"] == 25, "params are normalized by the provider schema"
    entry = entry_of(ok)
    assert entry.task == "jobs.run_schedule" and entry.kwargs == {"schedule_id": ok.pk}
    assert isinstance(entry.schedule, Crontab) and entry.options == {"queue": "default"}


@pytest.mark.django_db
def test_database_source_lists_enabled_rows_with_the_code_schedule(
    alice: Any, jobs_app: TaskQueue
) -> None:
    jobs_app.beat_schedule = {"code": {"task": "x.y", "schedule": 60.0}}
    on = _schedule(alice, name="on", interval_seconds=30, priority="high")
    on.save()
    _schedule(alice, name="off", interval_seconds=30, enabled=False).save()
    names = [(e.name, e.schedule, e.options) for e in DatabaseSchedule(jobs_app).entries()]
    assert names == [("code", 60.0, {}), (on.beat_name, 30.0, {"queue": "high"})]
    jobs_app.beat_source = DatabaseSchedule(jobs_app)  # type: ignore[attr-defined]
    assert Beat(jobs_app).source is jobs_app.beat_source, "beat uses the app's source"


@pytest.mark.django_db
def test_admin_edits_schedules_with_validation(client: Any, staff: Any, alice: Any) -> None:
    client.force_login(staff)
    form = {
        "name": "nightly",
        "provider": "quote",
        "params": '{"count": 500}',
        "owner": alice.pk,
        "priority": "low",
        "interval_seconds": "",
        "crontab": "0 3 * * *",
        "enabled": "on",
    }
    refused = client.post("/admin/jobs/periodicschedule/add/", form)
    assert refused.status_code == 200 and b"maximum" in refused.content
    assert not PeriodicSchedule.objects.exists()
    response = client.post(
        "/admin/jobs/periodicschedule/add/", {**form, "params": '{"count": 3}'}, follow=True
    )
    assert response.status_code == 200
    saved = PeriodicSchedule.objects.get(name="nightly")
    assert saved.crontab == "0 3 * * *" and saved.params["count"] == 3
    listing = client.get("/admin/jobs/periodicschedule/")
    assert listing.status_code == 200 and b"nightly" in listing.content
    detail = client.get(f"/admin/jobs/periodicschedule/{saved.pk}/change/")
    assert detail.status_code == 200 and b"last run at" in detail.content.lower()


@pytest.mark.django_db
def test_an_impossible_crontab_is_refused_when_the_schedule_is_saved(
    client: Any, staff: Any, alice: Any
) -> None:
    never = _schedule(alice, name="never", crontab="0 0 31 2 *")
    with pytest.raises(ValidationError) as refused:
        never.full_clean()
    assert any("February has no day 31" in m for m in refused.value.message_dict["crontab"])
    with pytest.raises(ValidationError):
        never.save()
    client.force_login(staff)
    form = {
        "name": "never",
        "provider": "quote",
        "params": '{"count": 1}',
        "owner": alice.pk,
        "priority": "default",
        "interval_seconds": "",
        "crontab": "0 0 30,31 2 *",
        "enabled": "on",
    }
    page = client.post("/admin/jobs/periodicschedule/add/", form)
    assert page.status_code == 200 and b"February has no day 30 or 31" in page.content
    assert not PeriodicSchedule.objects.exists()
    leap_day = _schedule(alice, name="leap-day", crontab="0 0 29 2 *")
    leap_day.full_clean()  # rare, but it fires


@pytest.mark.django_db
def test_a_row_saved_before_the_rule_is_skipped_by_beat_with_the_reason(
    alice: Any, jobs_app: TaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    ok = _schedule(alice, name="ok", interval_seconds=30)
    ok.save()
    old = _schedule(alice, name="old", interval_seconds=30)
    old.save()
    # An impossible crontab stored before saving refused it (no save(): no clean()).
    PeriodicSchedule.objects.filter(pk=old.pk).update(interval_seconds=None, crontab="0 0 31 2 *")
    with caplog.at_level("ERROR", logger="jobs.schedules"):
        names = [e.name for e in DatabaseSchedule(jobs_app).entries()]
    assert names == [ok.beat_name]
    assert any("February has no day 31" in r.getMessage() for r in caplog.records)


@pytest.fixture
def beats(subprocess_env: dict[str, str], worker: Path, tmp_path: Path) -> Iterator[list[Path]]:
    """Two `manage.py beat` processes on the test's isolated app and database."""
    procs, logs = [], []
    for n in range(2):
        log = tmp_path / f"beat{n}.log"
        with open(log, "wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "beat", "--name", f"beat{n}"],
                    cwd=PROJECT_ROOT,
                    env=subprocess_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        logs.append(log)
    for proc, log in zip(procs, logs, strict=True):
        wait_for_line(proc, log, "ready", 60)
    yield logs
    for proc in procs:
        stop(proc)


@pytest.mark.django_db(transaction=True)
def test_a_real_beat_creates_one_job_per_tick(
    alice: Any, jobs_app: TaskQueue, worker: Path, request: pytest.FixtureRequest
) -> None:
    schedule = _schedule(alice, name="every-second", interval_seconds=1)
    schedule.save()
    logs = request.getfixturevalue("beats")
    mine = Job.objects.filter(owner=alice, provider="quote")
    wait_for(lambda: mine.count() >= 2, 90, "two scheduled jobs", logs[0])
    schedule.enabled = False
    schedule.save()

    jobs = list(mine)
    keys = [j.idempotency_key for j in jobs]
    assert all(k and k.startswith("schedule:") for k in keys), keys
    assert len(set(keys)) == len(keys), "one job per beat run"
    # Each run id is beat's job id of one tick (uuid5 of entry name and tick):
    # distinct keys therefore mean distinct ticks, never two jobs for one.
    ticks = {}
    for key in keys:
        run_id = key.removeprefix("schedule:")
        tick = next(
            (
                t
                for t in _recent_ticks(jobs)
                if str(uuid.uuid5(_NAMESPACE, f"{schedule.beat_name}@{t!r}")) == run_id
            ),
            None,
        )
        assert tick is not None, f"{run_id} is not a tick of {schedule.beat_name}"
        ticks[run_id] = tick
    assert len(set(ticks.values())) == len(keys)
    assert all(j.params == schedule.params and j.priority == "default" for j in jobs)

    def run_recorded() -> bool:
        # A run writes last_run_at once its job is published, after the row
        # exists: on a busy machine the rows are seen first.
        schedule.refresh_from_db()
        return schedule.last_run_at is not None

    wait_for(run_recorded, 60, "the schedule to record its run", logs[0])
    assert schedule.last_job_id in {j.pk for j in Job.objects.filter(owner=alice)}
    # The jobs are ordinary jobs: they run to the end on the worker.
    wait_for(
        lambda: all(j.state == "SUCCESS" for j in Job.objects.filter(pk__in=[x.pk for x in jobs])),
        60,
        "the scheduled jobs to finish",
        worker,
    )


def _recent_ticks(jobs: list[Job]) -> list[float]:
    """Whole seconds around the jobs' creation (1-second interval ticks)."""
    first = min(j.created_at for j in jobs).timestamp()
    last = max(j.created_at for j in jobs).timestamp()
    return [float(t) for t in range(int(first) - 30, int(last) + 2)]
