"""``task.delay_on_commit(...)``: publish once the surrounding transaction commits.

Celery's (5.4) answer to a classic race: a view saves a row and queues a
task about it; the worker runs the task before the view's transaction
commits and does not find the row. ``delay_on_commit`` hands the publish
to ``django.db.transaction.on_commit``: it happens after the commit, never
if the transaction rolls back, and at once outside a transaction. Like
Celery's, it returns None: there is no job id before the commit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskqueue.exceptions import ConfigurationError

if TYPE_CHECKING:
    from taskqueue.task import Task


def apply_async_on_commit(
    task: Task,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    using: str | None = None,
    **options: Any,
) -> None:
    """``task.apply_async(args, kwargs, **options)`` after the transaction on
    database ``using`` (default: the default database) commits."""
    try:
        from django.db import transaction
    except ImportError:
        raise ConfigurationError(
            f"{task.name}: delay_on_commit() and apply_async_on_commit() wait for a Django "
            "transaction, and Django is not installed; use delay() or apply_async()"
        ) from None
    publish = functools.partial(task.apply_async, args, kwargs, **options)
    transaction.on_commit(publish, using=using)
