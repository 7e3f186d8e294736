"""Idempotent submission: ``apply_async(..., idempotency_key="order-42")``.

A key names one job. Without a ``task_id``, the job's id is derived from
the key (uuid5), so every submission with the key, from any process, and
every retry of a submission after a ``PublishError``, means the same job.

The key is bound to the job only together with an acknowledged publish:

1. :func:`claim` takes the key as *pending* (an atomic "set if absent",
   ``StateStore.claim_idempotency``) for a short window (the publish
   timeout plus a margin);
2. the job is published and Kafka acknowledges it;
3. :func:`confirm` makes the claim lasting: ``idempotency_ttl`` seconds,
   default one day.

A later submission that finds a confirmed claim publishes nothing and gets
that job's ``AsyncResult``. One that finds a pending claim of the same job
(its submitter may have died between claiming and publishing) publishes it
again: a job id runs once, so a second record of a job that was sent after
all is acked unrun. A crash between claim and publish therefore never binds
the key to a job that was never sent; the pending claim lapses within
seconds. If the publish fails, the claim is released at once. Within the
TTL the guarantee is "one job per key"; after it the key is free again, and,
without a ``task_id``, it names the same job id again: a job whose record
still exists is not run twice.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..app import TaskQueue

KEY_IDS = uuid.UUID("2b8e6f1c-7a4d-4c39-9e52-0d6f3a8b1c47")
"""Namespace of the job ids derived from idempotency keys (uuid5)."""

PENDING = "pending:"
"""Prefix of a claim whose job is not acknowledged yet."""

PENDING_MARGIN = 10.0
"""Seconds a pending claim outlives the publish timeout."""


def job_id_for(key: str) -> str:
    """The id of the job a key names when no ``task_id`` is given."""
    return str(uuid.uuid5(KEY_IDS, key))


def claim(app: TaskQueue, key: str, job_id: str) -> str | None:
    """Claim ``key`` for ``job_id`` (pending). None if this submission must
    publish (claimed now, or a pending claim of this same job); otherwise
    the id of the job that holds the key."""
    s = app.settings
    window = s.publish_timeout + 5 + PENDING_MARGIN
    holder = app.state.claim_idempotency(key, PENDING + job_id, window)
    if holder is None or holder == PENDING + job_id:
        return None
    return holder.removeprefix(PENDING)


def confirm(app: TaskQueue, key: str, job_id: str) -> None:
    """The job is acknowledged: bind ``key`` to it for ``idempotency_ttl``."""
    app.state.replace_idempotency(key, PENDING + job_id, job_id, app.settings.idempotency_ttl)


def release(app: TaskQueue, key: str, job_id: str) -> None:
    """Free ``key`` after a failed publish, unless another submitter holds it now."""
    app.state.release_idempotency(key, PENDING + job_id)
