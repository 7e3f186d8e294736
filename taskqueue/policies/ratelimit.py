"""Rate limits shared by all workers: ``@app.task(rate_limit="100/m")``.

One token bucket per task in the state store (``StateStore.take_tokens``),
refilled at the limit's rate, holding at most one second's worth of tokens
(at least one), taken atomically so concurrent workers never take the same
token. On Redis, time is Redis's own clock, so workers' clocks do not
matter.

The worker's poll loop asks for tokens for a whole batch in one round trip.
A job without a token is not held anywhere in memory and blocks nothing:
it goes back through the delay tiers with an eta when the next token is
expected (at most ``MAX_RECHECK`` seconds away, so a limit raised at run
time is noticed soon) and its record is acked once the tier has it. Other
tasks, and other partitions, keep flowing.

A limit can be overridden on every worker at run time with
``app.control.rate_limit(task, "10/s")`` (stored beside the buckets;
``""`` restores the declared one). Overrides apply to tasks that declare a
``rate_limit``. The per-worker limits of the control plane's SetRateLimit
(``taskqueue.control.ratelimit``) apply on top, in the pool.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..control.ratelimit import parse_rate
from ..delays import EARLY_TOLERANCE
from ..middleware import Admission, Middleware, Stage

if TYPE_CHECKING:
    from ..app import TaskQueue

MAX_RECHECK = 5.0
"""Longest a rate-limited job waits in the delay tiers before asking again."""


logger = logging.getLogger("taskqueue.ratelimit")


class RateLimitPolicy(Middleware):
    """Owns the ``rate_limit`` task option (``"N/s"``, ``"N/m"``, ``"N/h"``).

    At receipt, takes one token per limited job for the whole batch in one
    round trip; a job without a token is deferred through the delay tiers
    to when its token is expected (never sooner than a tier hop makes
    sense, never later than ``MAX_RECHECK``).
    """

    options = frozenset({"rate_limit"})

    def __init__(self) -> None:
        self._limiters: weakref.WeakKeyDictionary[TaskQueue, RateLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self, app: TaskQueue) -> RateLimiter:
        limiter = self._limiters.get(app)
        if limiter is None:
            limiter = self._limiters[app] = RateLimiter(app)
        return limiter

    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        limiter = self.limiter(app)
        limited = [
            a for a in batch if a.stage is Stage.RECEIVED and limiter.rate_of(a.message.task)
        ]
        if not limited:
            return
        waits = limiter.take([a.message.task for a in limited])
        deferred = 0
        for a, wait in zip(limited, waits, strict=True):
            if wait > 0:
                deferred += 1
                a.defer(a.now + min(max(wait, EARLY_TOLERANCE * 2), MAX_RECHECK), "rate-limit")
        if deferred:
            # One line per batch, not per job: enough to see a limit biting.
            logger.info("rate limit: %d job(s) deferred through the delay tiers", deferred)


class RateLimiter:
    """The worker loop's side: take tokens for a batch of jobs."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        self._rates: dict[str, float | None] = {}

    def rate_of(self, task_name: str) -> float | None:
        """Declared tokens/s of a task (None: not limited). Cached: options are fixed."""
        if task_name not in self._rates:
            task = self.app.tasks.get(task_name)
            text = task.options.get("rate_limit") if task else None
            self._rates[task_name] = parse_rate(str(text)) if text else None
        return self._rates[task_name]

    def take(self, task_names: list[str]) -> list[float]:
        """Seconds each job must wait (0 = go), one round trip for all."""
        return self.app.state.take_tokens([(n, self.rate_of(n) or 0.0) for n in task_names])


def set_override(app: TaskQueue, task: str, rate: str) -> None:
    """Set (or with ``""`` clear) the shared run-time limit of ``task``."""
    app.state.set_rate_override(task, parse_rate(rate))
