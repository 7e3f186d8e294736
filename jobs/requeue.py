"""Requeueing jobs: what ``requeue_jobs`` and the admin action do.

What a requeue means depends on where the job stands:

- SUCCESS: never requeued (skipped);
- FAILURE or REVOKED: retried as a new linked job (:func:`services.retry`),
  unless it was retried before: running the command twice retries once;
- not final (PENDING, RECEIVED, STARTED, PROGRESS, RETRY): published again
  under its own id, and ``queued_at`` moves to now. A job queued less than
  ``min_age`` ago is skipped, so running the command twice in a row does not
  publish twice; workers ignore a copy of a job that already finished.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import services
from jobs.errors import JobError
from jobs.models import Job
from taskqueue.states import State

CHUNK = 200
"""Jobs published per Kafka round trip (one wait per chunk)."""


@dataclass
class Filters:
    states: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    older_than: dt.timedelta | None = None
    ids: list[str] = field(default_factory=list)
    stuck: bool = False
    limit: int | None = None


@dataclass
class Report:
    republished: list[Job] = field(default_factory=list)
    retried: list[tuple[Job, Job]] = field(default_factory=list)
    skipped: list[tuple[Job, str]] = field(default_factory=list)


def select(filters: Filters, now: dt.datetime | None = None) -> QuerySet[Job]:
    """The jobs the filters name, oldest first."""
    now = now or timezone.now()
    jobs = Job.objects.select_related("owner").annotate(
        last_queued=Coalesce("queued_at", "created_at")
    )
    if filters.states:
        jobs = jobs.filter(state__in=filters.states)
    if filters.providers:
        jobs = jobs.filter(provider__in=filters.providers)
    if filters.ids:
        jobs = jobs.filter(pk__in=filters.ids)
    if filters.stuck:
        age = filters.older_than or dt.timedelta(seconds=services.stuck_after())
        jobs = jobs.filter(
            state=State.PENDING.value, queued_at__isnull=True, created_at__lt=now - age
        )
    elif filters.older_than is not None:
        jobs = jobs.filter(last_queued__lt=now - filters.older_than)
    jobs = jobs.order_by("created_at", "id")
    return jobs[: filters.limit] if filters.limit else jobs


def plan(job: Job, now: dt.datetime, min_age: dt.timedelta) -> str:
    """``republish``, ``retry`` or why the job is skipped."""
    if job.state == State.SUCCESS.value:
        return "skip: it succeeded"
    if job.state in (State.FAILURE.value, State.REVOKED.value):
        earlier = job.retried_as.order_by("created_at").first()
        return f"skip: already retried as {earlier.pk}" if earlier else "retry"
    last = job.queued_at or job.created_at
    if job.queued_at is not None and now - last < min_age:
        return "skip: queued less than a minute ago"
    return "republish"


def requeue(
    jobs: Iterable[Job],
    *,
    dry_run: bool = False,
    min_age: dt.timedelta = dt.timedelta(minutes=1),
    on_chunk: Callable[[int], None] | None = None,
) -> Report:
    """Requeue ``jobs`` (see module doc); ``on_chunk(n)`` reports progress."""
    now = timezone.now()
    report = Report()
    batch: list[Job] = []
    for job in jobs:
        action = plan(job, now, min_age)
        if action == "republish":
            batch.append(job)
            if len(batch) >= CHUNK:
                _flush(batch, report, dry_run, on_chunk)
        elif action == "retry":
            _retry(job, report, dry_run)
            if on_chunk:
                on_chunk(1)
        else:
            report.skipped.append((job, action.removeprefix("skip: ")))
            if on_chunk:
                on_chunk(1)
    _flush(batch, report, dry_run, on_chunk)
    return report


def _flush(
    batch: list[Job], report: Report, dry_run: bool, on_chunk: Callable[[int], None] | None
) -> None:
    if not batch:
        return
    if not dry_run:
        # A republished job's row goes back to "not queued" until Kafka acks.
        Job.objects.filter(pk__in=[j.pk for j in batch]).update(queued_at=None)
        services.republish(batch)
    report.republished += batch
    if on_chunk:
        on_chunk(len(batch))
    batch.clear()


def _retry(job: Job, report: Report, dry_run: bool) -> None:
    if dry_run:
        report.retried.append((job, job))
        return
    try:
        new, _ = services.retry(job)
    except JobError as exc:
        report.skipped.append((job, str(exc)))
        return
    report.retried.append((job, new))


# --- dead letters -------------------------------------------------------------------


@dataclass
class DeadReport:
    """What ``requeue_jobs --from-dlq`` found and did, per queue."""

    listed: list[tuple[str, Any]] = field(default_factory=list)  # (queue, DeadLetter)
    replayed: list[tuple[str, str]] = field(default_factory=list)  # (queue, job id)


def dead_letters(queues: Iterable[str], filters: Filters, *, dry_run: bool = False) -> DeadReport:
    """List the unhandled dead letters of ``queues`` the filters name; replay them.

    Applies ``ids``, ``providers`` (the task name ``providers.<name>``) and
    ``limit`` (over all queues). Replay goes through the framework
    (``app.dead_letters(queue).replay(ids)``): same job id, full retry
    budget, and the dead-letter group's offset moves past the replayed
    entries, so a second run finds nothing. The replayed jobs' rows are
    reopened (PENDING, attempts 0, error cleared) so the new run can move
    them; a row that was final would otherwise refuse every new state.
    """
    from jobs.taskapp import get_app, task_name

    app = get_app()
    report = DeadReport()
    tasks = {task_name(p) for p in filters.providers}
    left = filters.limit
    for queue in queues:
        if left is not None and left <= 0:
            break
        letters = app.dead_letters(queue)
        entries = letters.list(ids=filters.ids or None)
        if tasks:
            entries = [e for e in entries if e.task in tasks]
        if left is not None:
            entries = entries[:left]
            left -= len(entries)
        report.listed += [(queue, e) for e in entries]
        if dry_run or not entries:
            continue
        ids = letters.replay(ids=[e.id for e in entries])
        reopen(ids)
        report.replayed += [(queue, i) for i in ids]
    return report


def reopen(ids: Iterable[str]) -> int:
    """Make replayed jobs' rows movable again: PENDING, queued now, no error."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue  # a record with no job id (undecodable) has no row
    return Job.objects.filter(pk__in=valid).update(
        state=State.PENDING.value,
        attempts=0,
        error="",
        worker="",
        started_at=None,
        finished_at=None,
        queued_at=timezone.now(),
    )
