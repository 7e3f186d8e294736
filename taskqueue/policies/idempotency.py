"""Idempotent submission: ``apply_async(..., idempotency_key="order-42")``.

The first submission with a key claims it in Redis (``SET NX`` of
``<key_prefix>:idem:<key>`` = job id, expiring after ``idempotency_ttl``
seconds, default one day) and publishes; any later submission with the same
key, from any process, publishes nothing and gets the first job's
``AsyncResult``. If the first publish fails, its claim is released so a
retry of the submission can go through. Within the TTL the guarantee is
"one job per key"; after it, the key is free again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..app import TaskQueue

# Delete the claim only if it is still ours (another submitter may hold it now).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _key(app: TaskQueue, key: str) -> str:
    return f"{app.settings.key_prefix}:idem:{key}"


def claim(app: TaskQueue, key: str, job_id: str) -> str | None:
    """Claim ``key`` for ``job_id``; returns the id of the job that holds it already, if any."""
    client = app.state_backend.client
    name = _key(app, key)
    if client.set(name, job_id, nx=True, ex=app.settings.idempotency_ttl):
        return None
    existing = client.get(name)
    if existing is None:  # expired in between: try once more
        return claim(app, key, job_id)
    return existing.decode() if isinstance(existing, bytes) else str(existing)


def release(app: TaskQueue, key: str, job_id: str) -> None:
    app.state_backend.client.eval(_RELEASE, 1, _key(app, key), job_id)
