"""The provider tasks workers run: `providers.<name>`, one per provider.

Every provider goes through the same wrapper: progress goes to the
framework's progress helper, and a retryable upstream error (429, 5xx,
timeout) becomes a framework retry with the wait the upstream asked for,
so retries are visible, counted and bounded instead of hidden in a loop.
"""

from __future__ import annotations

from typing import Any

from taskqueue import Task
from taskqueue.contrib.django import shared_task

from .base import Provider
from .errors import ProviderError
from .registry import PROVIDERS

MAX_RETRIES = 4
"""Upstream trouble is retried this many times before the job fails."""


def task_name(provider: str) -> str:
    return f"providers.{provider}"


def _register(provider: Provider) -> Task:
    @shared_task(name=task_name(provider.name), bind=True, max_retries=MAX_RETRIES)
    def run_provider(self: Task, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return provider.run(params, progress=self.progress)
        except ProviderError as exc:
            if exc.retryable:
                raise self.retry(exc=exc, countdown=exc.countdown(self.request.retries)) from exc
            raise

    return run_provider


TASKS: dict[str, Task] = {name: _register(p) for name, p in PROVIDERS.items()}
"""Provider name -> its task."""
