"""Tasks every app has, as Celery's ``celery.*`` tasks.

``taskqueue.backend_cleanup`` deletes results older than ``result_expires``
from the result store. MongoDB does that by itself through the TTL index
the store creates; a server without TTL indexes (FerretDB 1.x, the local
default) relies on this task, which beat schedules daily at 04:00 UTC
whenever the store does not expire results natively (Celery's
``celery.backend_cleanup`` has the same schedule). Operators can also run
it by hand: ``python -m taskqueue results purge -A module``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import TaskQueue

logger = logging.getLogger("taskqueue.builtins")

BACKEND_CLEANUP = "taskqueue.backend_cleanup"


def purge_expired_results(app: TaskQueue, older_than: float | None = None) -> int:
    """Delete results done more than ``older_than`` (default ``result_expires``)
    seconds ago; how many (0 when results never expire)."""
    s = app.settings
    older_than = older_than or s.result_expires
    if not s.results_enabled or not older_than:
        return 0
    removed = app.result_store.purge(older_than)
    logger.info("deleted %d result(s) older than %.0f s", removed, older_than)
    return removed


def register_builtins(app: TaskQueue) -> None:
    @app.task(name=BACKEND_CLEANUP)
    def backend_cleanup() -> int:
        return purge_expired_results(app)


def set_up_expiry(app: TaskQueue) -> bool:
    """Ask the result store to expire results by itself; True when it will.

    Called by workers and beat when they start. False when results never
    expire, or when the store cannot (then beat purges them daily)."""
    s = app.settings
    if not s.results_enabled or not s.result_expires:
        return False
    try:
        return app.result_store.expire_after(s.result_expires)
    except Exception as exc:
        if not app.result_store.owns_error(exc):
            raise
        logger.warning("could not set up result expiry in %s: %s", app.result_store.service, exc)
        return False


def needs_backend_cleanup(app: TaskQueue) -> bool:
    """Whether beat must schedule the cleanup: results expire, the store won't."""
    s = app.settings
    return bool(s.results_enabled and s.result_expires and not set_up_expiry(app))
