"""Expiry: a job not started by its ``expires`` time is never run.

``expires=`` on ``apply_async`` (or as a task option, the default of every
call) is seconds from now or an aware datetime, Celery's meaning. The
envelope carries the absolute epoch time. The worker checks it when the
record arrives and again right before the body starts (a job may wait in
the pool's queue); an expired job ends REVOKED with the reason "expired"
and its error type ``Expired``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..exceptions import ConfigurationError
from ..middleware import Admission, Middleware
from ..states import REVOKED

if TYPE_CHECKING:
    from ..app import TaskQueue

EXPIRED_ERROR = {"exc_type": "Expired", "exc_message": "expired"}
"""Payload of the REVOKED state of an expired job."""


def epoch(value: float | dt.datetime | None) -> float | None:
    """Epoch seconds of an eta: an aware datetime or epoch seconds already."""
    if value is None or isinstance(value, (int, float)):
        return value
    if value.tzinfo is None:
        raise ConfigurationError(f"datetime {value!r} must be timezone-aware")
    return value.timestamp()


def expiry_time(value: float | dt.datetime | None, now: float | None = None) -> float | None:
    """Absolute epoch time of ``expires`` (seconds from now, or an aware datetime)."""
    if value is None or isinstance(value, dt.datetime):
        return epoch(value)
    import time

    return (time.time() if now is None else now) + float(value)


class Expiry(Middleware):
    """Owns the ``expires`` task option; refuses expired jobs at both admissions."""

    options = frozenset({"expires"})

    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        for a in batch:
            if a.message.is_expired(a.now):
                a.refuse(REVOKED.value, EXPIRED_ERROR)
