"""Periodic tasks kept in the database, as django-celery-beat keeps them.

Any model whose rows describe periodic tasks becomes a beat source: give it
an ``enabled`` field and the :class:`ScheduleRow` mixin's ``beat_entry()``
(:class:`~taskqueue.contrib.django.models.PeriodicTask` is the ready-made
one, editable in admin), then install the source on the project's app::

    from taskqueue.contrib.django.models import PeriodicTask
    from taskqueue.contrib.django.schedules import DatabaseSchedule

    app.beat_source = DatabaseSchedule(app, [PeriodicTask])

Beat asks the source for its entries on every loop (0.5 s), so a row added,
changed, disabled or deleted takes effect on the next loop, without a
restart. The app's code schedule (``app.conf.beat_schedule``) is included.
A row beat cannot run (a crontab saved before a rule refused it) is
skipped and logged once, never stopping the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from django.db import connections
from django.db.models import Model

from taskqueue.beat import CodeSchedule, Crontab, Entry
from taskqueue.crontab import zone
from taskqueue.exceptions import ConfigurationError

if TYPE_CHECKING:
    from taskqueue import TaskQueue

logger = logging.getLogger("taskqueue.contrib.django.schedules")

NEEDS_ONE = "give an interval in seconds (at least 1) or a crontab"
"""The error of a row with neither (or both) an interval and a crontab."""


def schedule_of(
    interval_seconds: int | None, crontab: str, tz: str | None = None
) -> float | Crontab:
    """The beat schedule of a row's fields; raises ConfigurationError."""
    crontab = (crontab or "").strip()
    if bool(interval_seconds) == bool(crontab):
        raise ConfigurationError(NEEDS_ONE)
    if interval_seconds:
        return float(interval_seconds)
    return Crontab(crontab, tz or None)


def schedule_errors(
    interval_seconds: int | None, crontab: str, tz: str | None = None
) -> dict[str, list[str]]:
    """Field errors for a model's ``clean()``: ``{"crontab": [why]}``..."""
    crontab = (crontab or "").strip()
    if bool(interval_seconds) == bool(crontab):
        return {"interval_seconds": [NEEDS_ONE]}
    errors: dict[str, list[str]] = {}
    if tz:
        try:
            zone(tz)
        except ConfigurationError as exc:
            errors["timezone"] = [str(exc)]
    if crontab:
        try:
            Crontab(crontab)
        except (ConfigurationError, ValueError) as exc:
            errors["crontab"] = [str(exc)]
    return errors


class ScheduleRow:
    """Mixin of a model whose rows are beat entries."""

    def beat_entry(self) -> Entry:
        """This row as a beat entry (raise ConfigurationError if it cannot run)."""
        raise NotImplementedError

    def beat_fired(self, tick: float, job_id: str) -> None:
        """Beat published this row's tick (default: nothing to record)."""


class DatabaseSchedule:
    """Enabled rows of ``models`` (ScheduleRow models), plus the app's code schedule."""

    def __init__(self, app: TaskQueue, models: Iterable[type[Model]]) -> None:
        self.code = CodeSchedule(app)
        self.models: Sequence[type[Model]] = tuple(models)
        for model in self.models:
            if not issubclass(model, ScheduleRow):
                raise ConfigurationError(
                    f"{model.__name__} is not a schedule model: add the ScheduleRow mixin "
                    "and its beat_entry() (see taskqueue.contrib.django.schedules)"
                )
        self._rows: dict[str, Any] = {}
        self._reported: set[str] = set()

    def entries(self) -> list[Entry]:
        _drop_dead_connections()
        out = self.code.entries()
        rows: dict[str, Any] = {}
        for model in self.models:
            for row in model._default_manager.filter(enabled=True).order_by("pk"):
                try:
                    entry = cast(ScheduleRow, row).beat_entry()
                except (ConfigurationError, ValueError) as exc:
                    key = f"{model._meta.label}:{row.pk}"
                    if key not in self._reported:  # once, not twice a second
                        self._reported.add(key)
                        logger.error("schedule %s skipped: %s", row, exc)
                    continue
                rows[entry.name] = row
                out.append(entry)
        self._rows = rows
        return out

    def fired(self, entry: Entry, tick: float, job_id: str) -> None:
        row = self._rows.get(entry.name)
        if row is not None:
            row.beat_fired(tick, job_id)


def _drop_dead_connections() -> None:
    # Beat is a long-lived process: a connection the server closed (restart,
    # idle timeout) would fail every loop. Not inside a transaction, where
    # closing would break it (tests run inside one).
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
