"""Read side of the jobs API: job, jobs, providers, workers, stats, viewer."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import graphene
from django.conf import settings
from django.db.models import Q, QuerySet

from jobs.api import pagination
from jobs.api.access import from_job_error, get_job, require_user, visible_jobs
from jobs.api.blocking import blocking
from jobs.api.error_ids import unavailable
from jobs.api.shared_cache import SharedAnswer
from jobs.api.stats import MAX_MINUTES, stats
from jobs.api.types import (
    JobConnection,
    JobState,
    JobType,
    ProviderType,
    Stats,
    Viewer,
    WorkerType,
)
from jobs.errors import JobError
from jobs.jobview import JobView, view, views
from jobs.models import Job
from jobs.taskapp import get_app
from providers.registry import PROVIDERS, describe_all
from taskqueue.message_checks import CONTROL_CHARACTERS

MAX_SEARCH = 200
"""Longest search string."""

_HEX = re.compile(r"^[0-9a-fA-F-]{4,36}$")

WORKERS_CACHE_SECONDS = 2.0
"""How long one ``workers`` answer (heartbeats, gRPC status, lag) serves every
caller of this process (``WORKERS_CACHE_SECONDS``; 0 turns it off)."""

_workers_answer: SharedAnswer[list[dict[str, Any]]] = SharedAnswer(
    lambda: float(getattr(settings, "WORKERS_CACHE_SECONDS", WORKERS_CACHE_SECONDS))
)


def _filtered(user: Any, state: Any, provider: str | None, search: str | None) -> QuerySet[Job]:
    jobs = visible_jobs(user)
    if state is not None:
        jobs = jobs.filter(state=getattr(state, "value", state))
    if provider is not None:
        if provider not in PROVIDERS:
            raise JobError.one(
                "provider", "choices", f"unknown provider; expected one of: {', '.join(PROVIDERS)}"
            )
        jobs = jobs.filter(provider=provider)
    if search:
        if len(search) > MAX_SEARCH:
            raise JobError.one("search", "max_length", f"at most {MAX_SEARCH} characters")
        if CONTROL_CHARACTERS.search(search):
            # PostgreSQL refuses NUL in a query (a 500), and no job holds one.
            raise JobError.one("search", "pattern", "must not hold control characters (NUL...)")
        text = Q(params__icontains=search) | Q(error__icontains=search)
        if _HEX.match(search):
            # Ids are stored as 32 hex digits: match a prefix of either spelling.
            text |= Q(id__startswith=search.replace("-", "").lower())
        jobs = jobs.filter(text)
    return jobs


def _connection(jobs: QuerySet[Job], first: int | None, after: str | None) -> dict[str, Any]:
    size = pagination.page_size(first)
    total = jobs.count()
    page = jobs.order_by("-created_at", "-id")
    if after:
        page = page.filter(pagination.after_filter(after))
    rows = list(page[: size + 1])
    has_next, rows = len(rows) > size, rows[:size]
    edges = [{"cursor": pagination.cursor(v.row), "node": v} for v in views(rows)]
    return {
        "edges": edges,
        "total_count": total,
        "page_info": {
            "has_next_page": has_next,
            "has_previous_page": bool(after),
            "start_cursor": edges[0]["cursor"] if edges else None,
            "end_cursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _worker(name: str, info: dict[str, str]) -> dict[str, Any]:
    def number(key: str, kind: type = int) -> Any:
        try:
            return kind(float(info[key])) if kind is int else kind(info[key])
        except (KeyError, ValueError):
            return None

    def moment(key: str) -> dt.datetime | None:
        value = number(key, float)
        return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value else None

    return {
        "name": name,
        "hostname": info.get("hostname"),
        "pid": number("pid"),
        "queues": [q for q in info.get("queues", "").split(",") if q],
        "pool": info.get("pool"),
        "concurrency": number("concurrency"),
        "active": number("active"),
        "processed": number("processed"),
        "started_at": moment("started_at"),
        "last_seen": moment("last_seen"),
        "problem": info.get("problem") or None,
    }


def _live_workers() -> list[dict[str, Any]]:
    """Heartbeats from Redis joined with each worker's gRPC status and lag."""
    try:
        heartbeats = get_app().state_backend.workers()
    except Exception as exc:
        raise unavailable("worker heartbeats", exc) from None
    from jobs.workers import worker_status

    try:
        control = worker_status(heartbeats)
    except Exception as exc:  # e.g. gRPC code not generated: heartbeats still answer
        control = {}
        logging.getLogger("jobs.api").warning("worker control status unavailable: %s", exc)
    unknown: dict[str, Any] = {"status": "unreachable", "partitions": [], "lag": None}
    workers = []
    for name, info_ in sorted(heartbeats.items()):
        worker = {**_worker(name, info_), **control.get(name, unknown)}
        # Alive by its heartbeat, but holding its work (an unreachable
        # control service says more: the heartbeat may be older).
        if worker["problem"] and worker["status"] != "unreachable":
            worker["status"] = "unhealthy"
        workers.append(worker)
    return workers


class Query(graphene.ObjectType):
    job = graphene.Field(JobType, id=graphene.ID(required=True))
    jobs = graphene.Field(
        JobConnection,
        required=True,
        state=JobState(),
        provider=graphene.String(),
        search=graphene.String(),
        first=graphene.Int(description=f"Page size, 1 to {pagination.MAX_PAGE} (default 20)."),
        after=graphene.String(),
    )
    providers = graphene.List(graphene.NonNull(ProviderType), required=True)
    workers = graphene.List(graphene.NonNull(WorkerType), required=True)
    stats = graphene.Field(Stats, required=True, minutes=graphene.Int(default_value=15))
    viewer = graphene.Field(Viewer, description="The logged-in person, or null when anonymous.")

    @staticmethod
    @blocking("db", "redis")
    def resolve_job(root: Any, info: Any, id: str) -> JobView:  # noqa: A002 - GraphQL's name
        user = require_user(info)
        try:
            return view(get_job(user, id))
        except JobError as exc:
            raise from_job_error(exc) from None

    @staticmethod
    @blocking("db", "redis")
    def resolve_jobs(root: Any, info: Any, **kwargs: Any) -> dict[str, Any]:
        user = require_user(info)
        try:
            jobs = _filtered(
                user, kwargs.get("state"), kwargs.get("provider"), kwargs.get("search")
            )
            return _connection(jobs, kwargs.get("first"), kwargs.get("after"))
        except JobError as exc:
            raise from_job_error(exc) from None

    @staticmethod
    def resolve_providers(root: Any, info: Any) -> list[dict[str, Any]]:
        require_user(info)
        return describe_all()

    @staticmethod
    @blocking("redis", "grpc")
    def resolve_workers(root: Any, info: Any) -> list[dict[str, Any]]:
        require_user(info)
        app = get_app()
        # The same for every viewer: one answer per app, shared for a few seconds.
        key = (id(app), app.settings.key_prefix)
        return _workers_answer.get(key, _live_workers)

    @staticmethod
    @blocking("db")
    def resolve_stats(root: Any, info: Any, minutes: int) -> dict[str, Any]:
        user = require_user(info)
        if not 1 <= minutes <= MAX_MINUTES:
            raise from_job_error(JobError.one("minutes", "maximum", f"must be 1 to {MAX_MINUTES}"))
        return stats(visible_jobs(user), minutes)

    @staticmethod
    def resolve_viewer(root: Any, info: Any) -> dict[str, Any] | None:
        user = getattr(info.context, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return {"id": user.pk, "username": user.get_username(), "is_staff": user.is_staff}
