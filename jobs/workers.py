"""The site's client of the workers' gRPC control service.

Used by the GraphQL ``workers`` query (status, partitions, lag) and by admin.
(Cancel needs no call here: the framework's revoke reaches every worker.)
It lives in the jobs app because jobs and progress both ask workers, and
only ``progress -> jobs`` may point that way.
Every call has a deadline (``CONTROL_TIMEOUT``); workers are asked
concurrently, and one that does not answer is reported as ``unreachable``
rather than waited on.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from jobs.taskapp import get_app
from taskqueue.control.client import Answer, ControlClient

DEFAULT_TIMEOUT = 0.5
"""Seconds a worker has to answer (``CONTROL_TIMEOUT``)."""

_clients: dict[int, ControlClient] = {}
_lock = threading.Lock()


def client() -> ControlClient:
    """One client (and its cached channels) per app in force."""
    app = get_app()
    with _lock:
        found = _clients.get(id(app))
        if found is None or found.app is not app:
            timeout = getattr(settings, "CONTROL_TIMEOUT", DEFAULT_TIMEOUT)
            found = _clients[id(app)] = ControlClient(app, timeout=timeout)
        return found


def worker_status(heartbeats: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """``{name: {status, partitions, lag, in_flight}}`` for these live workers.

    status: ``online`` (answered), ``unreachable`` (no answer in time) or
    ``no-control`` (its heartbeat names no gRPC address).
    """
    control = client()
    from taskqueue.control.plane import HEARTBEAT_FIELD
    from taskqueue.control.proto import pb

    targets = [(name, info.get(HEARTBEAT_FIELD)) for name, info in sorted(heartbeats.items())]
    answers = control.call_many(targets, "Stats", pb.StatsRequest(with_lag=True))
    return {a.worker: _status(a) for a in answers}


def _status(answer: Answer) -> dict[str, Any]:
    if not answer.ok:
        status = "no-control" if answer.code == "NONE" else "unreachable"
        return {"status": status, "partitions": [], "lag": None, "error": answer.error}
    r = answer.reply
    return {
        "status": "online",
        "partitions": [f"{p.topic}[{p.partition}]" for p in r.partitions],
        "lag": r.total_lag if r.total_lag >= 0 else None,
        "in_flight": r.in_flight,
        "error": None,
    }
