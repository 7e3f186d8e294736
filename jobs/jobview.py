"""What the GraphQL ``Job`` type resolves from: a row, its live state, its result.

A :class:`JobView` is built per answer (a query, a mutation, an event of a
subscription) and carries what the resolvers need, so nothing is stored on
model instances: the ``Job`` row, the job's live hash from the state store
(read for many rows at once by :func:`views`, or handed over by an event),
and the durable result document, read from the result store the first time
a resolver asks for it (most selections never do).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jobs import live
from jobs.models import Job
from taskqueue.states import State

_UNREAD: Any = object()
"""Marks the result document as not read yet (None means read, and absent)."""


class JobView:
    """One job as an answer sees it; ``meta`` is None until read."""

    __slots__ = ("row", "shared", "_meta", "_document", "__weakref__")

    def __init__(
        self, row: Job, meta: dict[str, str] | None = None, *, shared: bool = False
    ) -> None:
        self.row = row
        self.shared = shared
        """Built once for a hub event and handed to every subscriber of it, who
        may therefore reuse each other's encoded payloads."""
        self._meta = meta
        self._document = _UNREAD

    def __repr__(self) -> str:
        return f"<JobView {self.row.pk} {self.row.state}>"

    @property
    def id(self) -> str:
        return str(self.row.pk)

    @property
    def meta(self) -> dict[str, str]:
        """The live hash (empty for a final row, or when the store is away)."""
        if self._meta is None:
            self._meta = live.read([self.row])[0]
        return self._meta

    @property
    def state(self) -> State:
        return live.state(self.row, self.meta)

    @property
    def progress(self) -> dict[str, Any]:
        return live.progress(self.row, self.meta)

    @property
    def worker(self) -> str | None:
        return self.row.worker or self.meta.get("worker") or None

    @property
    def document(self) -> dict[str, Any] | None:
        """The result document (result, error, traceback, attempts), read once."""
        if self._document is _UNREAD:
            self._document = live.result_document(self.row)
        return self._document


def views(rows: Iterable[Job]) -> list[JobView]:
    """Views of ``rows`` with their live state read in one round trip."""
    rows = list(rows)
    return [JobView(row, meta) for row, meta in zip(rows, live.read(rows), strict=True)]


def view(row: Job) -> JobView:
    """One job's view, its live state read now."""
    return views([row])[0]
