"""Idempotent submission: ``apply_async(..., idempotency_key="order-42")``.

The first submission with a key claims it in the state store (an atomic
"set if absent" of key -> job id, expiring after ``idempotency_ttl`` seconds,
default one day; ``StateStore.claim_idempotency``) and publishes; any later submission with the same
key, from any process, publishes nothing and gets the first job's
``AsyncResult``. If the first publish fails, its claim is released so a
retry of the submission can go through. Within the TTL the guarantee is
"one job per key"; after it, the key is free again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..app import TaskQueue


def claim(app: TaskQueue, key: str, job_id: str) -> str | None:
    """Claim ``key`` for ``job_id``; returns the id of the job that holds it already, if any."""
    return app.state.claim_idempotency(key, job_id, app.settings.idempotency_ttl)


def release(app: TaskQueue, key: str, job_id: str) -> None:
    """Free ``key`` after a failed publish, unless another submitter holds it now."""
    app.state.release_idempotency(key, job_id)
