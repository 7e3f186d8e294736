"""Counts by state and recent throughput, for the ``stats`` query."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone

from jobs.models import Job
from taskqueue.states import State

MAX_MINUTES = 24 * 60
"""Longest throughput window."""


def stats(jobs: QuerySet[Job], minutes: int) -> dict[str, Any]:
    counts = dict(jobs.order_by().values_list("state").annotate(n=Count("pk")))
    by_state = [{"state": s, "count": counts.get(s.value, 0)} for s in State]
    now = timezone.now()
    since = (now - dt.timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    rows = (
        jobs.filter(finished_at__gte=since, state__in=[State.SUCCESS.value, State.FAILURE.value])
        .annotate(minute=TruncMinute("finished_at"))
        .order_by()
        .values_list("minute", "state")
        .annotate(n=Count("pk"))
    )
    buckets = {
        since + dt.timedelta(minutes=i): {"succeeded": 0, "failed": 0} for i in range(minutes)
    }
    for minute, state, n in rows:
        bucket = buckets.get(minute.replace(second=0, microsecond=0))
        if bucket is not None:
            bucket["succeeded" if state == State.SUCCESS.value else "failed"] += n
    throughput = [{"minute": m, **b} for m, b in sorted(buckets.items())]
    finished = sum(b["succeeded"] + b["failed"] for b in buckets.values())
    return {
        "total": sum(counts.values()),
        "by_state": by_state,
        "throughput": throughput,
        "finished_per_minute": round(finished / minutes, 2),
    }
