"""Jobs as a subscriber sees them: the row, moved forward by live events.

The GraphQL ``Job`` type resolves from a :class:`jobs.jobview.JobView`.
Subscriptions yield views too, so events carry the same fields under the
same access rules as queries. The row is written on transitions only (and
by another process, a little later than the event), so an event's view
holds a copy of the cached row with the event applied (state, attempts,
timestamps, error and last progress) and the live hash the events built.
Everything here is pure and does no I/O, which is what lets the hub build
one view per event and share it among subscribers.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from jobs.jobview import JobView
from jobs.lifecycle import error_summary
from jobs.models import Job
from progress.events import JobEvent, Order, order_of_meta, rank
from taskqueue.states import READY_STATES, State, may_replace


def _moment(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


@dataclass(slots=True)
class JobEntry:
    """What the hub knows of one job: its row and the live state it has seen."""

    row: Job | None
    meta: dict[str, str] = field(default_factory=dict)
    progress: dict[str, Any] | None = None
    started_ts: float | None = None

    def view(self, event: JobEvent) -> JobView:
        """The job as of ``event`` (absorbed into this entry first)."""
        assert self.row is not None
        self.meta.update(event.meta())
        if event.is_progress and isinstance(event.payload, dict):
            self.progress = event.payload
        if event.state in (State.STARTED, State.PROGRESS) and self.started_ts is None:
            self.started_ts = event.ts
        if event.state == State.RECEIVED:
            self.started_ts = None  # a new attempt starts afresh
        meta = dict(self.meta)
        job = apply(self.row, meta, event, self.progress, self.started_ts)
        return JobView(job, meta, shared=True)


def apply(
    row: Job,
    meta: dict[str, str],
    event: JobEvent,
    last_progress: dict[str, Any] | None,
    started_ts: float | None,
) -> Job:
    job = copy.copy(row)  # keeps the select_related owner
    attempts = event.attempt + 1
    if not may_replace(State(row.state), row.attempts, event.state, attempts):
        return job  # the row is already newer (or final)
    job.state = event.state.value
    job.attempts = attempts
    if job.started_at is None and (started_ts or event.state in (State.STARTED, State.PROGRESS)):
        job.started_at = _moment(started_ts or event.ts)
    if meta.get("worker") and not job.worker:
        job.worker = meta["worker"][:200]
    if event.state == State.RETRY or (event.is_final and event.state != State.SUCCESS):
        job.error = error_summary(event.payload if isinstance(event.payload, dict) else None)
    if event.state in READY_STATES:
        job.finished_at = _moment(event.ts)
        if last_progress:
            _copy_progress(job, last_progress)
    return job


def _copy_progress(job: Job, progress: dict[str, Any]) -> None:
    """Final rows keep the last progress (what jobs.lifecycle stores too)."""
    try:
        current, total = progress.get("current"), progress.get("total")
        job.progress_current = max(0, int(current)) if current is not None else None
        job.progress_total = max(0, int(total)) if total is not None else None
        job.progress_message = str(progress.get("message") or "")[:300]
    except (TypeError, ValueError):
        pass


def snapshot_order(view: JobView) -> Order:
    """The order key of a snapshot (row plus the live hash read with it)."""
    job = view.row
    live = order_of_meta(view.meta)
    row = Order(job.attempts - 1, rank(State(job.state)), 0.0)
    if job.is_final:
        return Order(row.attempt, row.rank, float("inf"))
    return max(row, live) if live is not None else row
