"""Whether a store the worker writes to is down, since when, and when to try again.

A worker cannot finish a job without its stores: the state store holds the
redelivery check and the final state, the result store the durable result.
When one of them fails as a whole (unreachable, timed out, restarting), the
poll loop does not exit and does not fail jobs (failing them would need the
very store that is down). It holds instead: every partition paused, no new
job started, nothing acked; it keeps polling, so it stays in its consumer
group, and it tries again with a growing backoff. It reports itself
unhealthy meanwhile (heartbeat, gRPC ``Ping``, the worker's ``/healthz``),
and resumes when the store answers. Only an outage longer than the
``outage_shutdown_after`` setting makes it shut down (warm), so that an
orchestrator can replace it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

logger = logging.getLogger("taskqueue.worker")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


@dataclass(slots=True)
class _Failing:
    error: str
    since: float  # monotonic
    since_wall: float
    attempts: int = 1
    next_try: float = 0.0  # monotonic


class StoreOutage:
    """The loop's view of its stores: which one fails, and the retry schedule.

    Loop thread only. ``failed(store, exc)`` after a whole-store failure,
    ``answered(store)`` after that store served a request again.
    """

    def __init__(self, shutdown_after: float = 0.0) -> None:
        self.shutdown_after = shutdown_after
        self._failing: dict[str, _Failing] = {}
        self.outages = 0
        """Outages begun since the worker started (tests and stats read it)."""

    @property
    def active(self) -> bool:
        return bool(self._failing)

    def failed(self, store: str, exc: BaseException) -> float:
        """Note a failure of ``store``; the seconds until the next try."""
        now = time.monotonic()
        error = f"{type(exc).__name__}: {exc}"
        state = self._failing.get(store)
        if state is None:
            if not self._failing:
                self.outages += 1
            state = self._failing[store] = _Failing(error, now, time.time())
            logger.error(
                "%s is unavailable (%s): holding all partitions, starting no new job, "
                "acking nothing until it answers",
                store,
                error,
            )
        else:
            state.attempts += 1
            state.error = error
            if state.attempts % 10 == 0:
                logger.error(
                    "%s still unavailable after %.0f s (%s)", store, now - state.since, error
                )
        delay = min(BACKOFF_FIRST * 2 ** (state.attempts - 1), BACKOFF_MAX)
        state.next_try = now + delay
        return delay

    def answered(self, store: str) -> None:
        state = self._failing.pop(store, None)
        if state is not None:
            logger.warning(
                "%s answers again after %.1f s; resuming", store, time.monotonic() - state.since
            )

    def due(self) -> bool:
        """Whether the next attempt to reach the failing stores is due."""
        now = time.monotonic()
        return all(s.next_try <= now for s in self._failing.values())

    @property
    def problem(self) -> str:
        """What is wrong, in words (empty when healthy)."""
        return "; ".join(f"{store} unavailable: {s.error}" for store, s in self._failing.items())

    @property
    def since(self) -> float | None:
        """Wall-clock start of the current outage (None when healthy)."""
        return min((s.since_wall for s in self._failing.values()), default=None)

    @property
    def too_long(self) -> bool:
        """The outage outlasted ``shutdown_after`` (0: never)."""
        if not self.shutdown_after or not self._failing:
            return False
        started = min(s.since for s in self._failing.values())
        return time.monotonic() - started >= self.shutdown_after
