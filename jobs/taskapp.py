"""Which taskqueue app the jobs layer publishes with and reads state from.

Normally the project's app (``settings.TASKQUEUE_APP``, loaded once). Tests
and tools that need an isolated app (own topic prefix, Redis key prefix,
Mongo database) install one with :func:`use_app`; nothing here connects at
import time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from taskqueue import TaskQueue
from taskqueue.contrib.django import project_app

QUEUES = ("high", "default", "low")
"""The queues (topics) jobs go to: a job's priority names its queue."""

_lock = threading.Lock()
_override: list[TaskQueue] = []
_loaded: TaskQueue | None = None


def get_app() -> TaskQueue:
    """The app in force: the innermost :func:`use_app`, else the project's."""
    global _loaded
    if _override:
        return _override[-1]
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = project_app()
    return _loaded


@contextlib.contextmanager
def use_app(app: TaskQueue) -> Iterator[TaskQueue]:
    """Route every jobs operation through ``app`` inside the block."""
    _override.append(app)
    try:
        yield app
    finally:
        _override.remove(app)


def task_name(provider: str) -> str:
    """The task that runs a provider (``providers.tasks`` registers them)."""
    return f"providers.{provider}"
