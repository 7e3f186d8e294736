"""The progress app's part of the GraphQL schema: ``Subscription`` and ``jobProgress``.

Subscriptions yield the ``JobView`` objects queries return, resolved by the
same type, under the same rule: owner or staff. Refusals (anonymous, unknown
or another person's job) happen when the subscription starts, so the client
gets one ``error`` message instead of a stream that never speaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import graphene
from channels.db import database_sync_to_async

from jobs import live_progress
from jobs.api.access import from_job_error, get_job, require_user
from jobs.api.blocking import blocking
from jobs.api.types import JobState, JobType
from jobs.errors import JobError
from jobs.jobview import JobView
from jobs.models import Job
from progress import streams
from providers.registry import PROVIDERS


def _visible_job(user: Any, job_id: str) -> Job:
    try:
        return get_job(user, job_id)
    except JobError as exc:
        raise from_job_error(exc) from None


class Subscription(graphene.ObjectType):
    job_updated = graphene.Field(
        JobType,
        id=graphene.ID(required=True),
        description="The job now, then each change; completes when the job ends.",
    )
    job_events = graphene.Field(
        JobType,
        provider=graphene.String(),
        description="Your unfinished jobs now, then every change of any job you may see.",
    )

    @staticmethod
    async def subscribe_job_updated(root: Any, info: Any, id: str) -> AsyncIterator[JobView]:  # noqa: A002
        user = require_user(info)
        job = await database_sync_to_async(_visible_job)(user, id)
        return streams.job_updated(str(job.pk))

    @staticmethod
    async def subscribe_job_events(
        root: Any, info: Any, provider: str | None = None
    ) -> AsyncIterator[JobView]:
        user = require_user(info)
        if provider is not None and provider not in PROVIDERS:
            raise from_job_error(
                JobError.one(
                    "provider",
                    "choices",
                    f"unknown provider; expected one of: {', '.join(PROVIDERS)}",
                )
            )
        return streams.job_events(user, provider)


class ProgressSource(graphene.Enum):
    """Who answered a progress question."""

    WORKER = "worker"
    REDIS = "redis"
    DATABASE = "database"


class JobProgress(graphene.ObjectType):
    """A job's progress as asked of the worker that holds it, else of Redis."""

    id = graphene.ID(required=True)
    source = graphene.Field(ProgressSource, required=True)
    state = graphene.Field(JobState, required=True)
    attempt = graphene.Int()
    current = graphene.Float()
    total = graphene.Float()
    percent = graphene.Float()
    message = graphene.String()
    worker = graphene.String()


class Query(graphene.ObjectType):
    job_progress = graphene.Field(
        JobProgress,
        id=graphene.ID(required=True),
        description="Ask the worker holding the job (RabbitMQ request/reply); Redis otherwise.",
    )

    @staticmethod
    @blocking("db", "redis", "rabbitmq")
    def resolve_job_progress(root: Any, info: Any, id: str) -> dict[str, Any]:  # noqa: A002
        user = require_user(info)
        job = _visible_job(user, id)
        return live_progress.job_progress(job).as_graphql()
