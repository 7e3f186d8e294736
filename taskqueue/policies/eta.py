"""Early arrivals: a record that arrives before its eta waits in a delay tier.

Delays normally never reach a queue early: ``apply_async(countdown=...)``
and retries publish to the delay tiers (``taskqueue.delays``). A record can
still arrive before it is due when the publisher's clock runs ahead, or when
it was written straight to the queue. Such a job is deferred to its own eta
through the tiers, so no worker ever holds a delayed job in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..delays import EARLY_TOLERANCE
from ..middleware import Admission, Middleware, Stage

if TYPE_CHECKING:
    from ..app import TaskQueue


class EarlyArrival(Middleware):
    """Defers a received job whose eta is still ahead (beyond a small tolerance)."""

    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        for a in batch:
            eta = a.message.eta
            if a.stage is Stage.RECEIVED and eta is not None and eta - a.now > EARLY_TOLERANCE:
                a.defer(eta, "early")
