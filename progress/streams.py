"""The two live streams: one job (``jobUpdated``) and all of a viewer's jobs (``jobEvents``).

Each stream registers with the process's hub *before* it reads the current
state, sends that snapshot first, then sends live events strictly newer
than what it already sent (see :mod:`progress.events`): a late subscriber
never misses a change and never sees one go backwards.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async

from jobs.api.access import sees_all_jobs, visible_jobs
from jobs.jobview import JobView, view, views
from jobs.models import Job
from progress.events import BEFORE_ALL, Order, is_newer
from progress.hub import Subscriber, get_hub
from progress.jobview import snapshot_order
from taskqueue.states import READY_STATES

ACTIVE_SNAPSHOT = 100
"""Unfinished jobs a new ``jobEvents`` subscriber is sent first (newest first)."""

REMEMBERED = 10_000
"""Jobs a ``jobEvents`` stream remembers the last sent order of."""


def _snapshot(job_id: str) -> tuple[JobView, Order] | None:
    job = Job.objects.select_related("owner").filter(pk=job_id).first()
    if job is None:
        return None
    current = view(job)  # reads the live hash (and heals a row that missed a final state)
    return current, snapshot_order(current)


def _active_snapshots(user: Any, provider: str | None) -> list[tuple[JobView, Order]]:
    jobs = visible_jobs(user).exclude(state__in=[s.value for s in READY_STATES])
    if provider is not None:
        jobs = jobs.filter(provider=provider)
    rows = list(jobs.order_by("-created_at")[:ACTIVE_SNAPSHOT])
    return [(v, snapshot_order(v)) for v in reversed(views(rows))]


async def job_updated(job_id: str) -> AsyncIterator[JobView]:
    """The job now, then every change until it ends (the stream completes then)."""
    hub = get_hub()
    subscriber = Subscriber(job_id=job_id)
    await hub.add(subscriber)
    try:
        snapshot = await database_sync_to_async(_snapshot)(job_id)
        if snapshot is None:
            return
        current, last = snapshot
        yield current
        if current.row.is_final:
            return
        while True:
            item = await subscriber.mailbox.get()
            if not is_newer(item.order, last):
                continue  # already reflected by the snapshot (or older)
            last = item.order
            yield item.value
            if item.is_final:
                return
    finally:
        hub.remove(subscriber)


async def job_events(user: Any, provider: str | None) -> AsyncIterator[JobView]:
    """The viewer's unfinished jobs now, then every change of any job they may see."""
    # A permission (jobs.view_all_jobs), read once: it is a database query.
    sees_all, user_id = await database_sync_to_async(sees_all_jobs)(user), user.pk

    def accepts(row: Job) -> bool:
        return (sees_all or row.owner_id == user_id) and (
            provider is None or row.provider == provider
        )

    hub = get_hub()
    subscriber = Subscriber(accepts=accepts)
    await hub.add(subscriber)
    sent: OrderedDict[str, Order] = OrderedDict()
    try:
        for current, order in await database_sync_to_async(_active_snapshots)(user, provider):
            sent[current.id] = order
            yield current
        while True:
            item = await subscriber.mailbox.get()
            if not is_newer(item.order, sent.get(item.job_id, BEFORE_ALL)):
                continue
            sent[item.job_id] = item.order
            sent.move_to_end(item.job_id)
            if len(sent) > REMEMBERED:
                sent.popitem(last=False)
            yield item.value
    finally:
        hub.remove(subscriber)
