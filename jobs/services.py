"""Submitting, cancelling and retrying jobs: the only writers of new Job rows.

Submission order, and why:

1. validate everything first (provider, params, priority, countdown, key):
   a refused request creates nothing;
2. commit the row (PENDING, ``queued_at`` empty) *before* publishing, so a
   worker that picks the message up at once finds the row to move;
3. publish with ``task_id = job id`` on the queue named by the priority and
   wait for Kafka's ack (acks=all);
4. set ``queued_at``: from now on the job is accepted.

If step 3 fails the row becomes FAILURE with the broker's error and loses
its idempotency key (so the caller may simply try again), and a final state
is written to Redis so that a message Kafka did take despite the error is
skipped by workers. A process that dies between 2 and 4 leaves a PENDING row
without ``queued_at``: ``requeue_jobs --stuck`` republishes those.

A retry is a *new* job linked to the old one (``retry_of``): the old job's
final state is final everywhere (row, Redis, Mongo), and the framework
rightly refuses to reopen it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import revocation
from jobs.errors import JobError, NotQueued, Problem
from jobs.models import Job, Priority
from jobs.taskapp import get_app, task_name
from providers.registry import UnknownProvider, get_provider
from providers.schema import ValidationError
from taskqueue import TaskQueue, TaskQueueError
from taskqueue.message_checks import CONTROL_CHARACTERS
from taskqueue.states import State

logger = logging.getLogger("jobs.services")

MAX_COUNTDOWN = 86_400.0
"""Longest delay a submission may ask for, in seconds (one day)."""

MAX_BULK = 100
"""Most jobs one bulk submission may carry."""

MAX_KEY_LENGTH = 200
"""Longest idempotency key (the column's size)."""


@dataclass(frozen=True)
class JobRequest:
    """What a person asks for; ``params`` is raw JSON, validated here."""

    provider: str
    params: Any = field(default_factory=dict)
    priority: str = Priority.DEFAULT.value
    countdown: float | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class _Checked:
    request: JobRequest
    params: dict[str, Any]


def _check(request: JobRequest, prefix: str = "") -> tuple[_Checked | None, list[Problem]]:
    """Validate one request; ``prefix`` locates it in a bulk (``jobs[3].``)."""
    problems: list[Problem] = []
    params: dict[str, Any] = {}
    try:
        params = get_provider(request.provider).normalize(
            {} if request.params is None else request.params
        )
    except UnknownProvider as exc:
        problems.append(Problem(f"{prefix}provider", "choices", str(exc)))
    except ValidationError as exc:
        for err in exc.to_dict()["errors"]:
            path = f"{prefix}params" + (f".{err['path']}" if err["path"] else "")
            problems.append(Problem(path.replace(".[", "["), err["rule"], err["message"]))
    if request.priority not in Priority.values:
        problems.append(
            Problem(f"{prefix}priority", "choices", f"must be one of {', '.join(Priority.values)}")
        )
    countdown = request.countdown
    if countdown is not None and not 0 <= countdown <= MAX_COUNTDOWN:
        problems.append(
            Problem(
                f"{prefix}countdown",
                "maximum" if countdown > 0 else "minimum",
                f"must be between 0 and {MAX_COUNTDOWN:.0f} seconds",
            )
        )
    key = request.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        problems.append(
            Problem(
                f"{prefix}idempotencyKey",
                "max_length" if key else "min_length",
                f"must be 1 to {MAX_KEY_LENGTH} characters",
            )
        )
    elif key is not None and CONTROL_CHARACTERS.search(key):
        # PostgreSQL refuses NUL in text: it would be a 500, not an answer.
        problems.append(
            Problem(f"{prefix}idempotencyKey", "pattern", "must not hold control characters")
        )
    return (None if problems else _Checked(request, params)), problems


def _existing(owner: Any, key: str | None) -> Job | None:
    if key is None:
        return None
    return Job.objects.filter(owner=owner, idempotency_key=key).first()


def _new_row(owner: Any, checked: _Checked, retry_of: Job | None = None) -> Job:
    r = checked.request
    return Job(
        owner=owner,
        provider=r.provider,
        params=checked.params,
        priority=r.priority,
        idempotency_key=r.idempotency_key,
        retry_of=retry_of,
    )


def _send(app: TaskQueue, job: Job, countdown: float | None = None) -> None:
    app.send_task(
        task_name(job.provider),
        args=[job.params],
        task_id=str(job.id),
        queue=job.priority,
        countdown=countdown or None,
    )


def _mark_queued(ids: Sequence[Any]) -> Any:
    """Set ``queued_at`` (once: a republication keeps the first); returns it."""
    now = timezone.now()
    Job.objects.filter(pk__in=list(ids), queued_at__isnull=True).update(queued_at=now)
    return now


def _mark_not_queued(app: TaskQueue, ids: Sequence[Any], exc: BaseException) -> None:
    """Make a failed publication visible as FAILURE, never as queued."""
    message = f"not queued: Kafka did not acknowledge the job ({exc})"[:1000]
    Job.objects.filter(pk__in=list(ids), queued_at__isnull=True).exclude(
        state__in=[s.value for s in (State.SUCCESS, State.FAILURE, State.REVOKED)]
    ).update(
        state=State.FAILURE.value,
        error=message,
        finished_at=timezone.now(),
        idempotency_key=None,
    )
    for job_id in ids:
        revocation.mark_final(app, str(job_id), State.FAILURE, message)


def submit(owner: Any, request: JobRequest, *, retry_of: Job | None = None) -> tuple[Job, bool]:
    """Validate, store and queue one job; returns ``(job, created)``.

    The same owner and idempotency key return the first job (``created`` is
    False) without publishing anything. Raises :class:`JobError` for bad
    input and :class:`NotQueued` when Kafka refuses.
    """
    checked, problems = _check(request)
    if checked is None:
        raise JobError(problems)
    found = _existing(owner, request.idempotency_key)
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            job = _new_row(owner, checked, retry_of)
            job.save(force_insert=True)
    except IntegrityError:
        # Two submissions with one key raced; the other one won.
        found = _existing(owner, request.idempotency_key)
        if found is None:
            raise
        return found, False
    app = get_app()
    try:
        _send(app, job, request.countdown)
    except (TaskQueueError, TypeError, OSError) as exc:
        _mark_not_queued(app, [job.pk], exc)
        raise NotQueued.one("provider", "queued", f"job {job.pk} was not queued: {exc}") from exc
    # The row as stored, without reading it back: the one statement that
    # changed it set only queued_at (a worker may have moved it since; the
    # caller sees the job as it was accepted).
    job.queued_at = _mark_queued([job.pk])
    return job, True


def submit_many(owner: Any, requests: Sequence[JobRequest]) -> list[Job]:
    """Validate all, store all in one transaction, publish all, wait for Kafka once.

    All or nothing at validation. At publication each job stands alone:
    the acked ones are queued, the others are FAILURE, and
    :class:`NotQueued` says how many failed.
    """
    if not 1 <= len(requests) <= MAX_BULK:
        raise JobError.one("jobs", "max_items", f"give 1 to {MAX_BULK} jobs")
    checked: list[_Checked] = []
    problems: list[Problem] = []
    for i, request in enumerate(requests):
        one, found = _check(request, prefix=f"jobs[{i}].")
        problems += found
        if one is not None:
            checked.append(one)
    if problems:
        raise JobError(problems)
    keys = [c.request.idempotency_key for c in checked if c.request.idempotency_key]
    if len(keys) != len(set(keys)):
        raise JobError.one("jobs", "unique", "two jobs carry the same idempotency key")
    existing = {
        j.idempotency_key: j for j in Job.objects.filter(owner=owner, idempotency_key__in=keys)
    }
    fresh = [c for c in checked if c.request.idempotency_key not in existing]
    with transaction.atomic():
        rows = Job.objects.bulk_create([_new_row(owner, c) for c in fresh])
    _publish_many(get_app(), list(zip(rows, [c.request.countdown for c in fresh], strict=True)))
    by_id = {j.pk: j for j in Job.objects.filter(pk__in=[r.pk for r in rows])}
    out, fresh_iter = [], iter(rows)
    for c in checked:
        key = c.request.idempotency_key
        out.append(existing[key] if key in existing else by_id[next(fresh_iter).pk])
    return out


def _publish_many(
    app: TaskQueue, items: list[tuple[Job, float | None]], fail_rows: bool = True
) -> None:
    """Produce every message, then wait once for all the acks.

    ``fail_rows``: unacked jobs become FAILURE (new submissions); a
    republication leaves them as they are, with ``queued_at`` empty.
    """
    if not items:
        return
    sent: list[Any] = []
    try:
        with app.bulk() as pending:
            sent = pending  # inspected below when some acks fail
            for job, countdown in items:
                _send(app, job, countdown)
    except (TaskQueueError, TypeError, OSError) as exc:
        acked = {m.id for m, h in sent if h.done and not h.error}
        _mark_queued([j.pk for j, _ in items if str(j.pk) in acked])
        failed = [j.pk for j, _ in items if str(j.pk) not in acked]
        if fail_rows:
            _mark_not_queued(app, failed, exc)
        raise NotQueued.one(
            "jobs", "queued", f"{len(failed)} of {len(items)} job(s) were not queued: {exc}"
        ) from exc
    _mark_queued([j.pk for j, _ in items])


def republish(jobs: Sequence[Job]) -> None:
    """Send non-final jobs again under their own ids (``requeue_jobs``)."""
    _publish_many(get_app(), [(j, None) for j in jobs], fail_rows=False)


def cancel(job: Job, actor: Any) -> bool:
    """Revoke a job that is not final yet; False when it already was final."""
    reason = f"cancelled by {getattr(actor, 'username', actor)}"
    changed = revocation.revoke(get_app(), job, reason)
    job.refresh_from_db()
    return changed


def retry(job: Job) -> tuple[Job, bool]:
    """A new job with the same input, linked to ``job``; ``(job, created)``.

    Only FAILURE and REVOKED jobs are retried. Retrying twice returns the
    first retry (a double click does not run the job twice).
    """
    if job.state not in (State.FAILURE.value, State.REVOKED.value):
        raise JobError.one(
            "id", "state", f"only FAILURE or REVOKED jobs can be retried; this one is {job.state}"
        )
    earlier = job.retried_as.order_by("created_at").first()
    if earlier is not None:
        return earlier, False
    request = JobRequest(job.provider, job.params, job.priority)
    return submit(job.owner, request, retry_of=job)


def stuck_after() -> float:
    """Seconds after which a PENDING row never acked by Kafka counts as stuck."""
    return float(getattr(settings, "JOBS_STUCK_AFTER", 60.0))
