"""Rate limits shared by all workers: ``@app.task(rate_limit="100/m")``.

One concept, one limiter. Every limit is a token bucket per task in the
state store (``StateStore.take_tokens``), refilled at the limit's rate,
holding at most one second's worth of tokens (at least one), taken
atomically so concurrent workers never take the same token. On Redis, time
is Redis's own clock, so workers' clocks do not matter.

A task's limit is its run-time override if it has one, else its declared
``rate_limit``. Overrides are shared by every worker and set by
``app.control.rate_limit(task, "10/s")``, the CLI's ``control rate-limit``
and the gRPC ``SetRateLimit`` alike (``""`` clears the override: back to
the declared limit, or none). A worker rereads the overrides at most every
``OVERRIDES_REFRESH`` seconds, so a change applies everywhere within about
a second, also to tasks that declare no limit.

The worker's poll loop asks for tokens for a whole batch in one round trip.
A job without a token is not held anywhere in memory and blocks nothing:
it goes back through the delay tiers with an eta when the next token is
expected (at most ``MAX_RECHECK`` seconds away, so a limit raised at run
time is noticed soon) and its record is acked once the tier has it. Other
tasks, and other partitions, keep flowing. So no rate parks a pool thread;
rates slower than ``MIN_RATE`` (1/h) are refused all the same.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..delays import EARLY_TOLERANCE
from ..exceptions import ConfigurationError
from ..middleware import Admission, Middleware, Stage

if TYPE_CHECKING:
    from ..app import TaskQueue

MAX_RECHECK = 5.0
"""Longest a rate-limited job waits in the delay tiers before asking again."""

OVERRIDES_REFRESH = 1.0
"""Seconds a worker keeps its copy of the shared overrides."""

MIN_RATE = 1 / 3600
"""The slowest limit accepted, ``1/h``. A job without a token never waits in
a thread: it goes back through the delay tiers and asks again every
``MAX_RECHECK`` seconds. Below one an hour (``0.001/h`` is one a month and a
half) each waiting job would circle the tiers for weeks and the bucket's
key would live as long, which is a typo or a pause in disguise: to pause a
task, revoke its jobs or stop the workers of its queue."""

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float | None:
    """Tasks per second of ``"10/s"``, ``"100/m"``, ``"5/h"``; None for ``""`` (no limit)."""
    if not text.strip():
        return None
    match = _RATE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigurationError(f"rate {text!r}: expected N/s, N/m or N/h with N > 0")
    per_second = float(match.group(1)) / _UNIT[match.group(2)]
    if not math.isfinite(per_second):
        raise ConfigurationError(f"rate {text!r}: N is too large to be a number")
    if per_second < MIN_RATE * (1 - 1e-9):
        raise ConfigurationError(
            f"rate {text!r} is slower than 1/h, the slowest limit accepted: jobs waiting "
            f"for a token would go round the delay tiers every {MAX_RECHECK:g} s for longer "
            "than an hour each. To pause a task, revoke its jobs or stop its queue's workers"
        )
    return per_second


def format_rate(per_second: float) -> str:
    """The shortest whole-number form of a rate: 0.5 -> ``"30/m"``, 2 -> ``"2/s"``."""
    for unit, seconds in _UNIT.items():
        count = per_second * seconds
        if abs(count - round(count)) < 1e-6 and round(count) >= 1:
            return f"{round(count)}/{unit}"
    return f"{per_second:g}/s"


logger = logging.getLogger("taskqueue.ratelimit")


class RateLimitPolicy(Middleware):
    """Owns the ``rate_limit`` task option (``"N/s"``, ``"N/m"``, ``"N/h"``).

    At receipt, takes one token per limited job for the whole batch in one
    round trip; a job without a token is deferred through the delay tiers
    to when its token is expected (never sooner than a tier hop makes
    sense, never later than ``MAX_RECHECK``).
    """

    options = frozenset({"rate_limit"})

    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        limiter = app.rate_limiter
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
    """An app's view of the shared limits: which apply, taking tokens, changing them."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        self._declared: dict[str, float | None] = {}
        self._overrides: dict[str, float] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def declared(self, task_name: str) -> float | None:
        """Declared tokens/s of a task (None: not limited). Cached: options are fixed."""
        if task_name not in self._declared:
            task = self.app.tasks.get(task_name)
            text = task.options.get("rate_limit") if task else None
            self._declared[task_name] = parse_rate(str(text)) if text else None
        return self._declared[task_name]

    def overrides(self) -> dict[str, float]:
        """The shared overrides, reread at most every ``OVERRIDES_REFRESH`` seconds."""
        if time.monotonic() - self._read_at < OVERRIDES_REFRESH:
            return self._overrides  # the common case: no lock, no round trip
        with self._lock:
            if time.monotonic() - self._read_at >= OVERRIDES_REFRESH:
                self._overrides = self.app.state.rate_overrides()
                self._read_at = time.monotonic()
            return self._overrides

    def rate_of(self, task_name: str) -> float | None:
        """Tokens/s in force for a task: its override, else its declared limit."""
        override = self.overrides().get(task_name)
        return override if override is not None else self.declared(task_name)

    def take(self, task_names: list[str]) -> list[float]:
        """Seconds each job must wait (0 = go), one round trip for all."""
        return self.app.state.take_tokens([(n, self.rate_of(n) or 0.0) for n in task_names])

    def limits(self) -> dict[str, str]:
        """Every limit in force, by task: declared ones and overrides."""
        rates = {name: self.declared(name) for name in self.app.tasks}
        rates.update(self.overrides())
        return {name: format_rate(rate) for name, rate in sorted(rates.items()) if rate}

    def set(self, task: str, rate: str) -> tuple[str, str]:
        """Override ``task``'s limit on every worker (``""``: back to the declared
        one). Returns the limit in force now and the one before, as text."""
        per_second = parse_rate(rate)  # a malformed rate fails here, before anything changes
        previous = self.rate_of(task)
        self.app.state.set_rate_override(task, per_second)
        with self._lock:
            self._read_at = float("-inf")
        now = self.rate_of(task)
        return (format_rate(now) if now else ""), (format_rate(previous) if previous else "")
