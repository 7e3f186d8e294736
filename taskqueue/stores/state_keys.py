"""Every Redis key and channel name of the state store (``P`` is ``key_prefix``).

``P:job:<id>``            hash: state, attempt, task, queue, payload (JSON),
                          traceback, worker, updated_at; TTL ``state_ttl``
``P:due:<id>``            string: when a far-delayed job is due (epoch), kept until
                          then, so a revoke made before can outlive it
``P:events``              channel: one JSON event per applied job-state change
``P:worker:<name>``       heartbeat hash of a live worker, short TTL
``P:workers``             set of worker names (pruned when their hash expired)
``P:revoked``             sorted set: revoked id -> expiry (epoch seconds)
``P:revocations``         channel: one JSON notice per revocation
``P:rate:<task>``         token bucket hash: tokens, stamp
``P:ratelimits``          hash: task -> overriding tokens/s
``P:deaths:<id>:<attempt>``  counter: pool children that died running that attempt
``P:idem:<key>``          string: the job id that claimed an idempotency key
``P:chord:<id>``          hash: member index -> result JSON
``P:beat:leader``         string: the leading beat process's token
``P:beat:last:<entry>``   string: an entry's last done tick, or its pending
                          claim (``state.pending_beat_record``)
"""

from __future__ import annotations


class StateKeys:
    """Builds the key names for one prefix (one instance per store)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.events = f"{prefix}:events"
        self.workers = f"{prefix}:workers"
        self.revoked = f"{prefix}:revoked"
        self.revocations = f"{prefix}:revocations"
        self.rate_overrides = f"{prefix}:ratelimits"
        self.beat_leader = f"{prefix}:beat:leader"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def due(self, job_id: str) -> str:
        return f"{self.prefix}:due:{job_id}"

    def worker(self, name: str) -> str:
        return f"{self.prefix}:worker:{name}"

    def rate_bucket(self, task: str) -> str:
        return f"{self.prefix}:rate:{task}"

    def child_deaths(self, job_id: str, attempt: int) -> str:
        return f"{self.prefix}:deaths:{job_id}:{attempt}"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    def chord(self, chord_id: str) -> str:
        return f"{self.prefix}:chord:{chord_id}"

    def beat_last(self, entry: str) -> str:
        return f"{self.prefix}:beat:last:{entry}"
