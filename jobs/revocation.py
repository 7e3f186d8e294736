"""Cancelling jobs, with the framework's revoke when it has one.

``AsyncResult.revoke(terminate=True)`` / ``app.control.revoke`` arrive with
the delivery-policies work (issue 4). Until then a cancel still keeps the job
from ever starting: a final REVOKED state in Redis makes every worker skip
the message on receipt (the worker's RECEIVED write is refused as
"already final" and the message is acked unrun), and a final result document
in Mongo keeps a late run from storing a result over it. What only the
framework can add is stopping a job that is already running.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from jobs import transitions
from jobs.models import Job
from taskqueue import TaskQueue
from taskqueue.states import State
from taskqueue.stores.state import StateUpdate

logger = logging.getLogger("jobs.revocation")


def framework_revoke_available(app: TaskQueue) -> bool:
    control = getattr(app, "control", None)
    return hasattr(app.AsyncResult("-"), "revoke") or hasattr(control, "revoke")


def revoke(app: TaskQueue, job: Job, reason: str) -> bool:
    """Mark the row REVOKED (unless final) and tell the framework; True if changed."""
    if not transitions.revoke(str(job.pk), timezone.now(), reason):
        return False
    job_id = str(job.pk)
    try:
        result = app.AsyncResult(job_id)
        if hasattr(result, "revoke"):
            result.revoke(terminate=True)
        elif hasattr(getattr(app, "control", None), "revoke"):
            app.control.revoke(job_id, terminate=True)  # type: ignore[attr-defined]
        else:
            mark_final(app, job_id, State.REVOKED, reason)
    except Exception:
        # The row says REVOKED; the worker side is best effort and logged.
        logger.exception("job %s: could not tell the workers it was revoked", job_id)
    return True


def mark_final(app: TaskQueue, job_id: str, state: State, reason: str) -> None:
    """Store a final state in Redis and Mongo so workers skip the job (best effort)."""
    error = {
        "exc_type": "Revoked" if state == State.REVOKED else "NotQueued",
        "exc_message": reason,
    }
    try:
        attempt = int(app.state_backend.read(job_id).get("attempt", 0))
        app.state_backend.write(StateUpdate(job_id, state.value, attempt, payload=error))
        if app.settings.results_enabled:
            app.result_store.mark_final(job_id, state.value, attempt, error)
    except Exception:
        logger.exception("job %s: could not store %s in Redis/Mongo", job_id, state.value)
