"""Keyset cursors for the ``jobs`` connection.

Jobs are listed newest first (``created_at``, then ``id``). A cursor holds
the position of the last job seen, not an offset, so jobs submitted while a
person pages do not shift or repeat rows.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from django.db.models import Q

from jobs.errors import JobError
from jobs.models import Job

MAX_PAGE = 100
"""The largest ``first`` a client may ask for."""

DEFAULT_PAGE = 20

_PREFIX = "job:"


def cursor(job: Job) -> str:
    raw = f"{_PREFIX}{job.created_at.isoformat()}|{job.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def after_filter(value: str) -> Q:
    """Rows after ``value`` in list order; bad cursors are a field error."""
    try:
        raw = base64.urlsafe_b64decode(value.encode()).decode()
        if not raw.startswith(_PREFIX):
            raise ValueError("not a jobs cursor")
        stamp, _, job_id = raw[len(_PREFIX) :].partition("|")
        created = dt.datetime.fromisoformat(stamp)
        pk = uuid.UUID(job_id)
    except (ValueError, UnicodeDecodeError):
        raise JobError.one(
            "after", "cursor", "not a cursor of this list; pass an endCursor you received"
        ) from None
    return Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk)


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise JobError.one(
            "first", "maximum" if first > MAX_PAGE else "minimum", f"must be 1 to {MAX_PAGE}"
        )
    return first
