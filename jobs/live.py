"""Live status of jobs: Redis while they run, Mongo for results, the row otherwise.

The row is written on transitions only, so while a job runs its progress
and its newest state are in Redis (the framework's state hash). Readers
merge the two with the framework's precedence rule: whichever is newer wins.

Read repair: a row still non-final while Redis (or Mongo) holds a final
state means a worker died before its transition reached the database. The
reader applies that transition (the same conditional UPDATE the worker
would have run), so rows converge without a sweeper.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from jobs import transitions
from jobs.lifecycle import error_summary, progress_fields
from jobs.models import Job
from jobs.taskapp import get_app
from taskqueue.states import READY_STATES, State, may_replace

logger = logging.getLogger("jobs.live")


def read(jobs: Iterable[Job]) -> list[dict[str, str]]:
    """The live hash of each job, in order: one round trip for all non-final rows.

    A final row needs none (``{}``). A hash holding a final state the row
    missed heals the row on the way (read repair).
    """
    jobs = list(jobs)
    pending = [j for j in jobs if not j.is_final]
    found: dict[int, dict[str, str]] = {}
    if pending:
        try:
            metas = get_app().state_backend.iter_ids([str(j.pk) for j in pending])
        except Exception as exc:
            # Redis is a cache here: the row still answers, and says so in logs.
            logger.warning("live state unavailable (%s); answering from the database", exc)
            metas = [{} for _ in pending]
        for job, meta in zip(pending, metas, strict=True):
            found[id(job)] = meta or {}
            if meta and meta.get("state") in READY_STATES:
                heal(job, meta)
    return [found.get(id(job), {}) for job in jobs]


def _live_state(meta: dict[str, str]) -> tuple[State, int] | None:
    try:
        return State(meta["state"]), int(meta.get("attempt", 0)) + 1
    except (KeyError, ValueError):
        return None


def state(job: Job, meta: dict[str, str]) -> State:
    """The newer of the row's state and the live one (``meta``, see :func:`read`)."""
    row = State(job.state)
    if job.is_final:
        return row
    live = _live_state(meta)
    if live is not None and may_replace(row, job.attempts, live[0], live[1]):
        return live[0]
    return row


def progress(job: Job, meta: dict[str, str]) -> dict[str, Any]:
    """``{current, total, percent, message}``: live while running, else the row's."""
    fields = {} if job.is_final else progress_fields(meta)
    current = fields.get("progress_current", job.progress_current)
    total = fields.get("progress_total", job.progress_total)
    message = fields.get("progress_message", job.progress_message)
    if total:
        percent: float | None = round(100.0 * (current or 0) / total, 1)
    else:
        percent = 100.0 if job.state == State.SUCCESS.value else None
    return {"current": current, "total": total, "percent": percent, "message": message}


def heal(job: Job, meta: dict[str, str]) -> None:
    """Apply a final state the row missed (read repair); refreshes ``job``."""
    live = _live_state(meta)
    if live is None or live[0] not in READY_STATES:
        return
    payload = _json(meta.get("payload"))
    fields: dict[str, Any] = {"result_ref": str(job.pk), **progress_fields(meta)}
    if live[0] != State.SUCCESS and isinstance(payload, dict):
        fields["error"] = error_summary(payload)
    if meta.get("worker"):
        fields["worker"] = meta["worker"][:200]
    at = _timestamp(meta.get("updated_at")) or timezone.now()
    if transitions.apply(transitions.Transition(str(job.pk), live[0], live[1], at, fields)):
        logger.info("job %s: row healed to %s from Redis", job.pk, live[0].value)
        job.refresh_from_db()


def result_document(job: Job) -> dict[str, Any] | None:
    """The Mongo result document of a job (result, error, traceback, attempts).

    Read on every call: :class:`jobs.jobview.JobView` keeps it for one answer."""
    if job.state == State.PENDING.value and job.queued_at is None:
        return None
    app = get_app()
    if not app.settings.results_enabled:
        return None
    try:
        return app.result_store.get(str(job.pk))
    except Exception as exc:
        logger.warning("results unavailable for job %s: %s", job.pk, exc)
        return None


def attempt_history(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Attempts stored in the result document, oldest first."""
    if not doc:
        return []
    attempts = doc.get("attempts") or {}
    out = []
    for key in sorted(attempts, key=lambda k: int(k) if str(k).isdigit() else 0):
        a = attempts[key] or {}
        out.append(
            {
                "attempt": int(key) + 1 if str(key).isdigit() else None,
                "state": a.get("state"),
                "worker": a.get("worker"),
                "error": error_summary(a.get("error")) or None,
                "started_at": _timestamp(a.get("started_at")),
                "finished_at": _timestamp(a.get("finished_at")),
                "runtime": a.get("runtime"),
                "redelivered": bool(a.get("redelivered")),
            }
        )
    return out


def _json(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC) if value else None
    except (TypeError, ValueError):
        return None
