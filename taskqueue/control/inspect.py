"""``app.control.inspect()``: Celery's inspect API over the workers' gRPC service.

Each method asks every live worker (or those named in ``destination``) and
returns Celery's shape, ``{worker_name: reply}``, or None when no worker
answered, as Celery does. A worker that does not answer within ``timeout``
is left out, as in Celery; ``python -m taskqueue inspect`` names it instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .client import DEFAULT_TIMEOUT, Answer, ControlClient

if TYPE_CHECKING:
    from ..app import TaskQueue


class Inspect:
    def __init__(
        self,
        app: TaskQueue,
        destination: list[str] | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.app = app
        self.destination = [destination] if isinstance(destination, str) else destination
        self.timeout = timeout

    def _ask(
        self, call: Callable[[ControlClient], list[Answer]], shape: Callable[[Any], Any]
    ) -> dict[str, Any] | None:
        client = ControlClient(self.app, timeout=self.timeout)
        try:
            answers = call(client)
        finally:
            client.close()
        wanted = self.destination
        replies = {
            a.worker: shape(a.reply)
            for a in answers
            if a.ok and (wanted is None or a.worker in wanted)
        }
        return replies or None

    def ping(self) -> dict[str, Any] | None:
        return self._ask(ControlClient.ping, lambda r: {"ok": "pong"})

    def stats(self) -> dict[str, Any] | None:
        return self._ask(ControlClient.stats, _stats)

    def registered(self) -> dict[str, Any] | None:
        return self._ask(ControlClient.registered, lambda r: list(r.tasks))

    def active(self) -> dict[str, Any] | None:
        """Jobs whose body runs now."""
        return self._ask(ControlClient.active, lambda r: _jobs(r, started=True))

    def reserved(self) -> dict[str, Any] | None:
        """Jobs the worker holds that have not started (waiting for a pool slot)."""
        return self._ask(ControlClient.active, lambda r: _jobs(r, started=False))

    def revoked(self) -> dict[str, Any] | None:
        """Revoked job ids that have not expired. The revocation set is the
        cluster's, in the state store: every worker reports the same list."""
        return self._ask(ControlClient.revoked, lambda r: list(r.ids))

    def scheduled(self) -> dict[str, Any] | None:
        """Jobs a worker holds whose eta is still ahead, in Celery's shape
        (``{"eta", "priority", "request"}``). Usually ``[]``: delayed jobs
        (countdown, eta, retry backoff) wait in Kafka's delay tiers, not in a
        worker's memory, and come to a worker only when due."""
        return self._ask(ControlClient.scheduled, _scheduled)

    def active_queues(self) -> dict[str, Any] | None:
        topic = self.app.settings.topic
        return self._ask(
            ControlClient.stats, lambda r: [{"name": q, "topic": topic(q)} for q in r.queues]
        )


def _jobs(reply: Any, started: bool) -> list[dict[str, Any]]:
    # Celery's request fields where we have them; a job's offset is committed
    # only once it is done, so nothing held is "acknowledged" yet.
    return [
        {
            "id": j.id,
            "name": j.task,
            "type": j.task,
            "time_start": j.started_at or None,
            "acknowledged": False,
            "state": j.state,
            "attempt": j.attempt,
        }
        for j in reply.jobs
        if bool(j.started_at) == started
    ]


def _scheduled(reply: Any) -> list[dict[str, Any]]:
    return [
        {
            "eta": datetime.fromtimestamp(j.eta, UTC).isoformat(),
            "priority": j.priority if j.priority >= 0 else None,
            "request": {
                "id": j.id,
                "name": j.task,
                "type": j.task,
                "attempt": j.attempt,
                "acknowledged": False,
                "delivery_info": {"topic": j.topic, "partition": j.partition, "offset": j.offset},
            },
        }
        for j in reply.jobs
    ]


def _stats(r: Any) -> dict[str, Any]:
    return {
        "uptime": r.uptime_seconds,
        "pool": {"implementation": r.pool, "max-concurrency": r.concurrency},
        "in_flight": r.in_flight,
        "processed": r.processed,
        "succeeded": r.succeeded,
        "failed": r.failed,
        "retried": r.retried,
        "queues": list(r.queues),
        "partitions": [f"{p.topic}[{p.partition}]" for p in r.partitions],
        "rate_limits": dict(r.rate_limits),
    }
