"""Jobs of tasks this worker does not know.

Usually a newer version of the code sent them during a rolling deploy, and
a newer worker will know the task within minutes. So such a job is not
failed at once: it goes back through the delay tiers, again and again for
``unknown_task_grace`` seconds from when a worker first saw it (the
``tq-unknown-since`` header it carries), and only then fails with
``NotRegistered`` (stored, so ``get()`` answers) and is dead-lettered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..transport import Delivery

logger = logging.getLogger("taskqueue.worker")

SINCE_HEADER = "tq-unknown-since"
"""Epoch seconds when a worker first found the record's task unknown."""

RETRY_EVERY = 30.0
"""Seconds between two looks at an unknown task's job, at most (and a
tenth of the grace period when that is shorter)."""

NAMES_LOGGED = 1000
"""Task names remembered for logging once each (bounded: names come from
whoever can publish)."""


@dataclass(frozen=True)
class Verdict:
    """Delay the record until ``eta`` (with ``headers``), or fail it (``eta`` None)."""

    eta: float | None
    headers: list[tuple[str, bytes]]


class UnknownTasks:
    """Decides what becomes of each job of an unknown task; logs once per name."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._delayed: set[str] = set()
        self._failed: set[str] = set()

    def decide(self, d: Delivery, task: str, now: float) -> Verdict:
        since = _since(d)
        if since is None:
            since = now
        headers = [(k, v) for k, v in d.headers if k != SINCE_HEADER]
        headers.append((SINCE_HEADER, repr(since).encode()))
        remaining = since + self.grace - now
        if remaining > 0:
            self._once(
                self._delayed,
                task,
                "task %r is not registered here; its jobs come back through the delay "
                "tiers for up to %g s in case a newer worker knows it",
                self.grace,
            )
            return Verdict(now + min(RETRY_EVERY, self.grace / 10, remaining), headers)
        self._once(
            self._failed,
            task,
            "task %r is still not registered after %g s; its jobs fail with NotRegistered",
            self.grace,
        )
        return Verdict(None, headers)

    @staticmethod
    def _once(seen: set[str], task: str, text: str, grace: float) -> None:
        if task in seen:
            return
        if len(seen) >= NAMES_LOGGED:
            seen.clear()
        seen.add(task)
        logger.warning(text, task, grace)


def _since(d: Delivery) -> float | None:
    for key, value in d.headers:
        if key == SINCE_HEADER:
            try:
                return float(value)
            except ValueError:
                return None
    return None
