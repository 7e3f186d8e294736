"""Revoke a job from the control plane.

When the framework's revocations exist (``app.revocations``, behind
``AsyncResult.revoke`` / ``app.control.revoke``) they are used. Until then revoking
uses the mechanism every worker already honours: a final REVOKED state in
the state store (and the result store) makes every worker skip the message
on receipt, and keeps a late run from overwriting it. ``terminate`` also
stops the attempt running in this worker's pool thread, if any.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..states import READY_STATES, REVOKED
from ..stores.result_documents import revoked_error
from ..stores.state import APPLIED, StateUpdate
from . import terminate as killer

if TYPE_CHECKING:
    from ..app import TaskQueue

logger = logging.getLogger("taskqueue.control")


@dataclass(frozen=True, slots=True)
class Revocation:
    revoked: bool
    terminated: bool
    detail: str


def revoke(app: TaskQueue, job_id: str, terminate: bool, reason: str = "") -> Revocation:
    reason = reason or "revoked through the control plane"
    framework = _framework_revoke(app, job_id, terminate, reason)
    if framework is not None:
        return framework
    revoked, detail = mark_revoked(app, job_id, reason)
    terminated = False
    if terminate and revoked:
        terminated = killer.terminate(job_id)
        detail += "; running attempt interrupted" if terminated else "; not running here"
    logger.warning("job %s revoked (%s): %s", job_id, reason, detail)
    return Revocation(revoked, terminated, detail)


def _framework_revoke(
    app: TaskQueue, job_id: str, terminate: bool, reason: str
) -> Revocation | None:
    """The framework's revocations (``taskqueue.policies.revoke``), when present.

    They store REVOKED and publish the revocation to every worker; the one
    running the job interrupts it. Whether that is this worker is known
    here: its body is running (``terminated`` says the interrupt was sent).
    """
    revocations: Any = getattr(app, "revocations", None)
    if revocations is None or not hasattr(revocations, "revoke"):
        return None
    running_here = killer.is_running(job_id)
    revoked = bool(revocations.revoke(job_id, terminate, reason))
    terminated = revoked and terminate and running_here
    detail = "revoked (shared revocations)" if revoked else "not revoked: finished already"
    if terminated:
        detail += "; running attempt interrupted"
    return Revocation(revoked, terminated, detail)


def mark_revoked(app: TaskQueue, job_id: str, reason: str) -> tuple[bool, str]:
    """Store a final REVOKED (unless final already); (revoked now or before, detail)."""
    backend = app.state_backend
    current = backend.read(job_id)
    if current.get("state") in {s.value for s in READY_STATES}:
        state = current["state"]
        return state == REVOKED.value, f"already {state}"
    attempt = int(current.get("attempt") or 0)
    error = revoked_error(reason)
    code, previous = backend.write(StateUpdate(job_id, REVOKED.value, attempt, payload=error))[:2]
    if code != APPLIED:
        return previous == REVOKED.value, f"already {previous}"
    if app.settings.results_enabled:
        try:
            app.result_store.mark_revoked(job_id, attempt, error)
        except Exception as exc:  # the state store already refuses a late result
            logger.warning("job %s: REVOKED not stored in the result store: %s", job_id, exc)
    return True, "stored REVOKED"
