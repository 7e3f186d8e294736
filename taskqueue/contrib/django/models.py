"""``PeriodicTask``: a periodic task edited in admin, fired by beat.

The reusable twin of django-celery-beat's model: any project that installs
``taskqueue.contrib.django`` (and runs ``manage.py migrate``) gets it, and
beat reads it once the project's app uses
:class:`~taskqueue.contrib.django.schedules.DatabaseSchedule`.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.utils import timezone as django_timezone

from taskqueue.beat import Entry

from .schedules import ScheduleRow, schedule_errors, schedule_of


class PeriodicTask(ScheduleRow, models.Model):
    """Calls ``task(*args, **kwargs)`` every ``interval_seconds`` or on ``crontab``."""

    name = models.CharField(max_length=200, unique=True, help_text="A label for people.")
    task = models.CharField(max_length=200, help_text="The registered task name, e.g. tasks.add")
    args = models.JSONField(default=list, blank=True, help_text="JSON list, e.g. [2, 2]")
    kwargs = models.JSONField(default=dict, blank=True, help_text='JSON object, e.g. {"x": 1}')
    queue = models.CharField(max_length=200, blank=True, help_text="Empty: the task's queue.")
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Run every this many seconds (or give a crontab)."
    )
    crontab = models.CharField(
        max_length=100,
        blank=True,
        help_text="minute hour day month weekday, e.g. */15 9-17 * * 1-5",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        help_text="IANA zone of the crontab, e.g. Europe/Paris (empty: the app's timezone).",
    )
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    total_run_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=django_timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.task}, {self.every})"

    @property
    def every(self) -> str:
        if self.interval_seconds:
            return f"every {self.interval_seconds}s"
        return f"{self.crontab} {self.timezone}".strip()

    def clean(self) -> None:
        self.crontab = (self.crontab or "").strip()
        errors = schedule_errors(self.interval_seconds, self.crontab, self.timezone)
        if not isinstance(self.args, list):
            errors["args"] = ["must be a JSON list"]
        if not isinstance(self.kwargs, dict):
            errors["kwargs"] = ["must be a JSON object"]
        if errors:
            raise ValidationError(errors)

    def beat_entry(self) -> Entry:
        """Named after the row's id, not its name: renaming it does not refire a tick."""
        options = {"queue": self.queue} if self.queue else {}
        return Entry(
            f"{self._meta.label_lower}.{self.pk}",
            self.task,
            schedule_of(self.interval_seconds, self.crontab, self.timezone),
            tuple(self.args or ()),
            dict(self.kwargs or {}),
            options,
        )

    def beat_fired(self, tick: float, job_id: str) -> None:
        PeriodicTask.objects.filter(pk=self.pk).update(
            last_run_at=dt.datetime.fromtimestamp(tick, tz=dt.UTC),
            total_run_count=F("total_run_count") + 1,
        )
