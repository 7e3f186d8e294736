"""Cancelling jobs and closing jobs that will never run, through the framework.

A cancel marks the row REVOKED and revokes the job in the framework
(``app.control.revoke(terminate=True)``): a final REVOKED state makes every
worker skip its record, and the worker running it interrupts the attempt.
A job that could not be queued is closed FAILURE the same way
(``taskqueue.policies.revoke.close_job``), so a late copy never runs.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from jobs import transitions
from jobs.models import Job
from taskqueue import TaskQueue
from taskqueue.policies.revoke import close_job
from taskqueue.states import State

logger = logging.getLogger("jobs.revocation")


def revoke(app: TaskQueue, job: Job, reason: str) -> bool:
    """Mark the row REVOKED (unless final) and revoke the job; True if changed."""
    if not transitions.revoke(str(job.pk), timezone.now(), reason):
        return False
    job_id = str(job.pk)
    try:
        app.control.revoke(job_id, terminate=True, reason=reason)
    except Exception:
        # The row says REVOKED; the worker side is best effort and logged.
        logger.exception("job %s: could not tell the workers it was revoked", job_id)
    return True


def mark_final(app: TaskQueue, job_id: str, state: State, reason: str) -> None:
    """Store a final state so workers skip the job (best effort, logged)."""
    error = {
        "exc_type": "Revoked" if state == State.REVOKED else "NotQueued",
        "exc_message": reason,
    }
    try:
        close_job(app, job_id, state.value, error)
    except Exception:
        logger.exception("job %s: could not store %s", job_id, state.value)
