"""GraphQL types of the jobs API. Field names are a contract (UI, scripts)."""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from jobs import live
from jobs.api.blocking import blocking
from jobs.jobview import JobView
from jobs.models import Job, Priority
from taskqueue.states import State


class JSON(GenericScalar):
    """Any JSON value (object, array, string, number, boolean or null)."""


JobState = graphene.Enum.from_enum(
    State, name="JobState", description="The framework's job states."
)
JobPriority = graphene.Enum(
    "JobPriority",
    [(p.name, p.value) for p in Priority],
    description="A priority is a queue: high, default or low.",
)


class FieldError(graphene.ObjectType):
    """One refused input: where, which rule, and why."""

    field = graphene.String(required=True, description="e.g. params.places[0].latitude")
    rule = graphene.String(required=True, description="e.g. required, maximum, type, choices")
    message = graphene.String(required=True)


class Progress(graphene.ObjectType):
    current = graphene.Float()
    total = graphene.Float()
    percent = graphene.Float()
    message = graphene.String()


class Attempt(graphene.ObjectType):
    """One attempt of a job, from the durable result document."""

    attempt = graphene.Int()
    state = graphene.String()
    worker = graphene.String()
    error = graphene.String()
    started_at = graphene.DateTime()
    finished_at = graphene.DateTime()
    runtime = graphene.Float()
    redelivered = graphene.Boolean()


class Owner(graphene.ObjectType):
    id = graphene.ID(required=True)
    username = graphene.String(required=True)


def _row_field(name: str, default: Any, root: JobView, info: Any, **args: Any) -> Any:
    return getattr(root.row, name, default)


class JobType(graphene.ObjectType):
    """A submitted job: its input, where it stands, and its outcome."""

    class Meta:
        name = "Job"
        # Plain fields (provider, params, attempts, timestamps...) are the row's.
        default_resolver = _row_field

    id = graphene.ID(required=True)
    provider = graphene.String(required=True)
    params = graphene.Field(JSON, required=True)
    priority = graphene.Field(JobPriority, required=True)
    state = graphene.Field(JobState, required=True)
    progress = graphene.Field(Progress, required=True)
    attempts = graphene.Int(required=True)
    result = graphene.Field(JSON, description="The result document (SUCCESS only), from Mongo.")
    error = graphene.String(description="Short error summary (FAILURE, RETRY, REVOKED).")
    traceback = graphene.String(description="Traceback of the last failed attempt, from Mongo.")
    attempt_history = graphene.List(graphene.NonNull(Attempt), required=True)
    worker = graphene.String()
    owner = graphene.Field(Owner, required=True)
    idempotency_key = graphene.String()
    retry_of = graphene.Field(lambda: JobType)
    created_at = graphene.DateTime(required=True)
    queued_at = graphene.DateTime()
    started_at = graphene.DateTime()
    finished_at = graphene.DateTime()
    runtime_seconds = graphene.Float()
    is_final = graphene.Boolean(required=True)

    @staticmethod
    def resolve_id(job: JobView, info: Any) -> str:
        return job.id

    @staticmethod
    def resolve_state(job: JobView, info: Any) -> State:
        return job.state

    @staticmethod
    def resolve_progress(job: JobView, info: Any) -> dict[str, Any]:
        return job.progress

    @staticmethod
    @blocking("mongo")
    def resolve_result(job: JobView, info: Any) -> Any:
        if job.row.state != State.SUCCESS.value:
            return None
        doc = job.document
        return doc.get("result") if doc else None

    @staticmethod
    def resolve_error(job: JobView, info: Any) -> str | None:
        return job.row.error or None

    @staticmethod
    @blocking("mongo")
    def resolve_traceback(job: JobView, info: Any) -> str | None:
        if job.row.state == State.SUCCESS.value:
            return None
        return (job.document or {}).get("traceback") or None

    @staticmethod
    @blocking("mongo")
    def resolve_attempt_history(job: JobView, info: Any) -> list[dict[str, Any]]:
        return live.attempt_history(job.document)

    @staticmethod
    def resolve_worker(job: JobView, info: Any) -> str | None:
        return job.worker

    @staticmethod
    def resolve_owner(job: JobView, info: Any) -> dict[str, Any]:
        # Rows behind every JobView are loaded with select_related("owner").
        return {"id": job.row.owner_id, "username": job.row.owner.username}

    @staticmethod
    @blocking("db", "redis")
    def resolve_retry_of(job: JobView, info: Any) -> JobView | None:
        row = job.row
        if row.retry_of_id is None:
            return None
        # Only what the viewer could see anyway: the same owner's job.
        rows = Job.objects.select_related("owner")
        found = rows.filter(pk=row.retry_of_id, owner_id=row.owner_id).first()
        return JobView(found) if found is not None else None


class JobEdge(graphene.ObjectType):
    cursor = graphene.String(required=True)
    node = graphene.Field(JobType, required=True)


class PageInfo(graphene.ObjectType):
    has_next_page = graphene.Boolean(required=True)
    has_previous_page = graphene.Boolean(required=True)
    start_cursor = graphene.String()
    end_cursor = graphene.String()


class JobConnection(graphene.ObjectType):
    """A page of jobs, newest first (Relay connection)."""

    edges = graphene.List(graphene.NonNull(JobEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)
    total_count = graphene.Int(required=True, description="Jobs matching the filters.")


class ProviderType(graphene.ObjectType):
    class Meta:
        name = "Provider"

    name = graphene.String(required=True)
    title = graphene.String(required=True)
    description = graphene.String(required=True)
    params_schema = graphene.Field(
        JSON,
        required=True,
        description="The parameters as a JSON Schema (draft 2020-12) document; also "
        "formatMinimum and x-notAfterToday (dates), x-messages (words for a failed "
        "keyword), x-rules (cross-field rules, checked by the server) and x-maxBytes.",
    )
    sandbox = graphene.Boolean(
        required=True,
        description="True when jobs call the offline provider sandbox, not the public API "
        "(the run command switches to it when the public APIs are unreachable).",
    )

    @staticmethod
    def resolve_sandbox(root: Any, info: Any) -> bool:
        from providers.conf import provider_settings

        return provider_settings().uses_sandbox


class WorkerType(graphene.ObjectType):
    """A live worker, from its Redis heartbeat."""

    class Meta:
        name = "Worker"

    name = graphene.String(required=True)
    hostname = graphene.String()
    pid = graphene.Int()
    queues = graphene.List(graphene.NonNull(graphene.String), required=True)
    pool = graphene.String()
    concurrency = graphene.Int()
    active = graphene.Int()
    processed = graphene.Int()
    started_at = graphene.DateTime()
    last_seen = graphene.DateTime()
    status = graphene.String(
        required=True,
        description=(
            "online (answered its control service), unhealthy (a store it needs is down;"
            " see problem), unreachable, or no-control"
        ),
    )
    problem = graphene.String(
        description="Why the worker holds its work: a store it needs is down (null when healthy)."
    )
    partitions = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="Assigned: topic[n]."
    )
    lag = graphene.Int(description="Messages behind on its partitions (null when unknown).")


class StateCount(graphene.ObjectType):
    state = graphene.Field(JobState, required=True)
    count = graphene.Int(required=True)


class ThroughputBucket(graphene.ObjectType):
    """Jobs that finished during one minute."""

    minute = graphene.DateTime(required=True)
    succeeded = graphene.Int(required=True)
    failed = graphene.Int(required=True)


class Stats(graphene.ObjectType):
    total = graphene.Int(required=True)
    by_state = graphene.List(graphene.NonNull(StateCount), required=True)
    throughput = graphene.List(graphene.NonNull(ThroughputBucket), required=True)
    finished_per_minute = graphene.Float(
        required=True, description="Average over the window of `throughput`."
    )


class Viewer(graphene.ObjectType):
    id = graphene.ID(required=True)
    username = graphene.String(required=True)
    is_staff = graphene.Boolean(required=True)
