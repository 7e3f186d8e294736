"""Who may see and act on which jobs, and the GraphQL errors for refusals.

People see and act on their own jobs. Power over other people's jobs is a
model permission, never bare ``is_staff``: :data:`VIEW_ALL` to see them
(queries, subscriptions), :data:`MANAGE_ALL` to cancel and retry them.
Another person's job that one may not see answers exactly like a job that
does not exist, so ids cannot be probed; one that may be seen but not managed
is refused with rule ``permission``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from graphql import GraphQLError

from jobs.errors import JobError
from jobs.models import Job

VIEW_ALL = "jobs.view_all_jobs"
"""See every person's jobs (``Job.Meta.permissions``)."""

MANAGE_ALL = "jobs.manage_all_jobs"
"""Cancel and retry every person's jobs."""

UNAUTHENTICATED = "authentication required: log in, or send 'Authorization: Bearer <token>'"


def field_error(field: str, rule: str, message: str, code: str = "BAD_USER_INPUT") -> GraphQLError:
    """A top-level GraphQL error that names the field and the rule."""
    return GraphQLError(message, extensions={"code": code, "field": field, "rule": rule})


def from_job_error(exc: JobError) -> GraphQLError:
    first = exc.problems[0]
    return GraphQLError(
        str(exc),
        extensions={
            "code": "BAD_USER_INPUT",
            "field": first.field,
            "rule": first.rule,
            "problems": [p.to_dict() for p in exc.problems],
        },
    )


def require_user(info: Any) -> Any:
    """The authenticated user of the request, or the 'authentication required' error."""
    user = getattr(info.context, "user", None)
    if user is None or not user.is_authenticated:
        raise GraphQLError(UNAUTHENTICATED, extensions={"code": "UNAUTHENTICATED"})
    return user


def sees_all_jobs(user: Any) -> bool:
    """Whether ``user`` may see every person's jobs (reads the database once
    per user object: call it from a thread, not the event loop)."""
    return bool(user.has_perm(VIEW_ALL))


def visible_jobs(user: Any) -> QuerySet[Job]:
    jobs = Job.objects.select_related("owner")
    return jobs if sees_all_jobs(user) else jobs.filter(owner=user)


def parse_id(value: Any, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise JobError.one(
            field, "format", f"{str(value)[:60]!r} is not a job id (a UUID)"
        ) from None


def get_job(user: Any, value: Any, field: str = "id") -> Job:
    """The job with this id if ``user`` may see it, else a not-found :class:`JobError`."""
    job = visible_jobs(user).filter(pk=parse_id(value, field)).first()
    if job is None:
        raise JobError.one(field, "not_found", f"no job with id {value}")
    return job


def get_job_to_manage(user: Any, value: Any, field: str = "id") -> Job:
    """The job with this id if ``user`` may cancel and retry it; else a
    :class:`JobError` (not found, or ``permission`` for a job seen but not theirs)."""
    job = get_job(user, value, field)
    if job.owner_id != user.pk and not user.has_perm(MANAGE_ALL):
        raise JobError.one(
            field,
            "permission",
            f"job {value} is another person's: cancelling or retrying it "
            f"needs the permission {MANAGE_ALL}",
        )
    return job
