"""Periodic schedules edited in admin, fired by beat, submitted as ordinary jobs.

The beat source is taskqueue's reusable database schedule
(:class:`taskqueue.contrib.django.schedules.DatabaseSchedule`, the
django-celery-beat of this framework): beat asks it for entries on every
loop (0.5 s), so a schedule added, changed, disabled or deleted in admin
takes effect on the next loop, no restart. This app's source reads two
models: enabled :class:`~jobs.models.PeriodicSchedule` rows (provider jobs
for a person) and the generic
:class:`~taskqueue.contrib.django.models.PeriodicTask` rows (any task), on
top of the app's code schedule (``app.beat_schedule``). A schedule row is
the entry

    name  jobs.schedule.<pk>   task  jobs.run_schedule(schedule_id=<pk>)

Beat publishes ``jobs.run_schedule`` (one leader, one claim per tick, job
id uuid5(name, tick)); a worker runs it, and it calls
:func:`jobs.services.submit` for the schedule's owner with the idempotency
key ``schedule:<run id>``. So each tick makes exactly one Job row (visible
in the UI and the API, validated like any submission), even if the
``run_schedule`` message is delivered twice.

The project (``config/taskqueue.py``) installs this source as its app's
``beat_source``, which ``taskqueue.beat.Beat`` uses instead of the code
schedule: ``manage.py beat`` and ``python -m taskqueue beat -A
config.taskqueue:app`` both read the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from jobs.models import PeriodicSchedule
from taskqueue.beat import Entry
from taskqueue.contrib.django import schedules
from taskqueue.contrib.django.models import PeriodicTask

if TYPE_CHECKING:
    from taskqueue import TaskQueue

RUN_TASK = "jobs.run_schedule"
"""The task beat fires for a schedule row (registered in jobs/tasks.py)."""


def entry_of(schedule: PeriodicSchedule) -> Entry:
    """The beat entry of one row (raises ConfigurationError for a bad crontab)."""
    return schedule.beat_entry()


class DatabaseSchedule(schedules.DatabaseSchedule):
    """Enabled schedules and periodic tasks, plus the app's code schedule."""

    def __init__(self, app: TaskQueue) -> None:
        super().__init__(app, [PeriodicSchedule, PeriodicTask])


def fire(schedule_id: int, run_id: str) -> dict[str, Any]:
    """Submit the schedule's job for its owner; one job per ``run_id`` (beat tick)."""
    from jobs.services import JobRequest, submit

    schedule = PeriodicSchedule.objects.select_related("owner").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return {"schedule": schedule_id, "skipped": "deleted or disabled"}
    request = JobRequest(
        schedule.provider,
        schedule.params,
        schedule.priority,
        idempotency_key=f"schedule:{run_id}",
    )
    job, created = submit(schedule.owner, request)
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(last_run_at=timezone.now(), last_job=job)
    return {"schedule": schedule_id, "job": str(job.pk), "created": created}
