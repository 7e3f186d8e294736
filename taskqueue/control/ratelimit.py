"""Per-task rate limits a worker applies, changeable at run time (SetRateLimit).

A token bucket per task name: a task body starts only when its bucket has a
token, so a limit of ``10/m`` runs at most ten of that task per minute on
this worker. The wait happens in the pool thread, before the body (in the
``started`` hook), so the poll loop never blocks; the cost is a pool slot
held while waiting. This is the control plane's interim limiter: when the
framework's own rate limits (delivery policies) exist, SetRateLimit drives
those instead.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from ..exceptions import ConfigurationError
from ..message import Message
from ..middleware import Middleware

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float | None:
    """Tasks per second of ``"10/s"``, ``"100/m"``, ``"5/h"``; None for ``""`` (no limit)."""
    if not text.strip():
        return None
    match = _RATE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigurationError(f"rate {text!r}: expected N/s, N/m or N/h with N > 0")
    return float(match.group(1)) / _UNIT[match.group(2)]


@dataclass(slots=True)
class _Bucket:
    rate: float
    text: str
    tokens: float = 1.0
    stamp: float = 0.0


class RateLimits(Middleware):
    """Blocks a task body until its task's bucket has a token."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def set(self, task: str, text: str) -> tuple[str, str]:
        """Set (or with ``""`` remove) ``task``'s limit; returns (now, previous)."""
        rate = parse_rate(text)
        with self._lock:
            old = self._buckets.pop(task, None)
            if rate is not None:
                self._buckets[task] = _Bucket(rate, text.strip(), 1.0, time.monotonic())
        return (text.strip() if rate is not None else ""), (old.text if old else "")

    def limits(self) -> dict[str, str]:
        with self._lock:
            return {task: b.text for task, b in self._buckets.items()}

    def started(self, message: Message) -> None:
        while True:
            with self._lock:
                bucket = self._buckets.get(message.task)
                if bucket is None:
                    return
                now = time.monotonic()
                bucket.tokens = min(1.0, bucket.tokens + (now - bucket.stamp) * bucket.rate)
                bucket.stamp = now
                if bucket.tokens >= 1.0:
                    bucket.tokens -= 1.0
                    return
                wait = (1.0 - bucket.tokens) / bucket.rate
            time.sleep(min(wait, 1.0))  # re-check: the limit may change meanwhile
