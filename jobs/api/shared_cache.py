"""A few seconds of memory for answers that cost remote calls, shared by callers.

The ``workers`` query asks every live worker over gRPC (status, partitions,
lag). A screen that polls it, times every open tab, times every person,
would multiply those calls; the figures do not change meaningfully within
seconds. :class:`SharedAnswer` keeps one answer per key for ``ttl`` seconds
in this process, and computes it once when it is missing: concurrent callers
wait for the one computation (a lock per key) instead of all calling out.
Failures are not kept, so the next caller tries again.

Per process, not in Django's cache: the answer holds live objects and the
point is to spare the workers, which a per-process cache already bounds to
one call per process per ``ttl``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedAnswer(Generic[T]):
    def __init__(self, ttl: Callable[[], float]) -> None:
        """``ttl``: read on each call, so a setting change (or a test) applies at once."""
        self._ttl = ttl
        self._answers: dict[Hashable, tuple[float, T]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer for ``key`` if younger than the ttl, else ``compute()``'s."""
        ttl = self._ttl()
        if ttl <= 0:
            return compute()
        fresh = self._fresh(key, ttl)
        if fresh is not None:
            return fresh[1]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            fresh = self._fresh(key, ttl)  # computed while we waited
            if fresh is not None:
                return fresh[1]
            value = compute()
            with self._guard:
                self._prune(ttl)
                self._answers[key] = (time.monotonic(), value)
            return value

    def _fresh(self, key: Hashable, ttl: float) -> tuple[float, T] | None:
        found = self._answers.get(key)
        if found is None or time.monotonic() - found[0] >= ttl:
            return None
        return found

    def _prune(self, ttl: float) -> None:
        """Drop stale answers (keys such as per-app ones come and go)."""
        now = time.monotonic()
        for key in [k for k, (at, _) in self._answers.items() if now - at >= ttl]:
            del self._answers[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():  # nobody computing it now
                del self._locks[key]

    def clear(self) -> None:
        with self._guard:
            self._answers.clear()
