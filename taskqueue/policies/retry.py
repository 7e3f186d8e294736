"""Retry backoff: how long a retry waits, from declared task options.

Options (on ``@app.task``), Celery's names and defaults:

``retry_backoff``      False. True (factor 1) or a number: exponential
                       backoff, ``factor * 2 ** retries`` seconds.
``retry_backoff_max``  600. Upper bound of one backoff delay, seconds.
``retry_jitter``       True. Full jitter: a random delay in [0, backoff],
                       so many jobs failing together do not retry together.

Without ``retry_backoff`` a retry waits ``countdown`` (``self.retry``) or
``default_retry_delay``. Every delayed retry travels through the Kafka delay
tiers (``taskqueue.delays``). ``max_retries`` (core option, default 3,
None = unlimited) bounds the attempts; then the job ends FAILURE and is
copied to its queue's dead-letter topic.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ..middleware import Middleware

if TYPE_CHECKING:
    from ..app import TaskQueue
    from ..message import Message
    from ..task import Task

DEFAULT_BACKOFF_MAX = 600.0
"""Seconds: the cap of an exponential backoff when the task sets none."""


def backoff_delay(task: Task, retries: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait before retry number ``retries + 1`` under the task's options."""
    factor = task.options.get("retry_backoff", False)
    if not factor:
        return task.default_retry_delay or None
    factor = 1.0 if factor is True else float(factor)
    cap = float(task.options.get("retry_backoff_max", DEFAULT_BACKOFF_MAX))
    delay = min(cap, factor * (2**retries))
    if task.options.get("retry_jitter", True):
        delay = (rng or random).uniform(0, delay)
    return delay


class RetryBackoff(Middleware):
    """Owns the backoff options: the delay of an automatic retry."""

    options = frozenset({"retry_backoff", "retry_backoff_max", "retry_jitter"})

    def retry_delay(
        self, app: TaskQueue, task: Task, message: Message, exc: BaseException | None
    ) -> float | None:
        return backoff_delay(task, message.retries)
