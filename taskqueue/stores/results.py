"""The result store seam: durable results, one document per job.

Documents are built by :mod:`taskqueue.stores.result_documents`; a store
keeps them. Every implementation follows the same rules:

- Writes are idempotent and ordered. The first write of a job inserts its
  document; a later one changes it only while the stored document is not
  final and its ``retries`` is not newer, and then merges the attempt
  history per attempt. So a redelivery never duplicates nor regresses a
  result, and a late non-final write never replaces a final one.
- A worker buffers documents (:meth:`ResultStore.record`) and writes them
  in one round trip every few milliseconds or few hundred documents; it
  takes the buffer (:meth:`~ResultStore.take`), writes it from a background
  thread (:meth:`~ResultStore.write`) and puts it back on failure
  (:meth:`~ResultStore.put_back`), acking the jobs only once written.

:func:`create_result_store` picks the implementation from the URL:
``memory://`` for the in-process store of fast tests, else MongoDB.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from ..states import REVOKED
from .result_documents import Reopening, closing_document, reopening

MEMORY_SCHEME = "memory://"
"""URL prefix that selects :class:`~taskqueue.stores.results_memory.MemoryResultStore`."""

PERMANENT: Literal["permanent"] = "permanent"
"""A write error that the same document meets again (a value or size the
store refuses): retrying it would block its job's partition forever."""
TRANSIENT: Literal["transient"] = "transient"
"""A write error that passes (connection lost, server busy): retry later."""

Kind = Literal["permanent", "transient"]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""MongoDB's document size limit; the memory store refuses alike."""


@dataclass(slots=True)
class WriteReport:
    """What :meth:`ResultStore.write_checked` did with a batch.

    ``failed`` maps the id of each job whose document the store refused for
    good to the reason; a FAILURE document (``result_documents.unstorable``)
    was stored in its place. ``retry`` holds documents refused for a passing
    reason while the rest of the batch was written: the caller retries them.
    """

    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    retry: list[dict[str, Any]] = field(default_factory=list)


class ResultStore(ABC):
    """Where final results, errors and attempt histories are kept."""

    service = "result store"
    """Name of the backing service in operator messages."""

    def expire_after(self, seconds: float) -> bool:
        """Have the server delete final results ``seconds`` after they are done;
        True when it will (a MongoDB TTL index), False when somebody must
        purge them (beat runs ``taskqueue.backend_cleanup`` daily then)."""
        return False

    def __init__(self, url: str, database: str) -> None:
        self.url = url
        self.database = database
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # --- buffered writes -----------------------------------------------------
    def record(self, document: dict[str, Any]) -> None:
        """Buffer one attempt's document (see ``result_documents.outcome_document``)."""
        with self._lock:
            self._buffer.append(document)

    def __len__(self) -> int:
        return len(self._buffer)

    def take(self) -> list[dict[str, Any]]:
        """Remove and return the buffered documents (to write elsewhere)."""
        with self._lock:
            docs, self._buffer = self._buffer, []
        return docs

    def put_back(self, docs: list[dict[str, Any]]) -> None:
        """Return documents whose write failed, ahead of newer ones."""
        with self._lock:
            self._buffer[:0] = docs

    def flush(self) -> int:
        """Write the buffer now; returns the number of documents."""
        return self.write(self.take())

    def write(self, docs: list[dict[str, Any]]) -> int:
        """Insert or merge ``docs`` (in order, by the rules above); returns how many."""
        return self.write_checked(docs).written

    @abstractmethod
    def write_checked(self, docs: list[dict[str, Any]]) -> WriteReport:
        """:meth:`write`, one job at a time where the store refuses a document.

        A document refused for good (see :meth:`classify`) never blocks the
        others: a value JSON can hold is kept as JSON text, else the job's
        document becomes a FAILURE naming why. Raises only on errors that
        concern the whole store (unreachable): nothing is lost by retrying.
        """

    def classify(self, exc: BaseException) -> Kind:
        """Whether a write error is :data:`PERMANENT` or :data:`TRANSIENT`."""
        return TRANSIENT if self.owns_error(exc) else PERMANENT

    # --- reading ---------------------------------------------------------------
    @abstractmethod
    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's document with every value as it was written, or None."""

    # --- changes from outside a run ------------------------------------------------
    def mark_final(self, job_id: str, state: str, attempt: int, error: dict[str, str]) -> None:
        """Store a final ``state`` without a run, unless a final result is there."""
        self.write([closing_document(job_id, state, attempt, error)])

    def mark_revoked(self, job_id: str, attempt: int, error: dict[str, str]) -> None:
        """Store REVOKED (see :meth:`mark_final`): a late run cannot store over it."""
        self.mark_final(job_id, REVOKED.value, attempt, error)

    def reopen(self, job_id: str, retries: int, keep_attempts: bool) -> bool:
        """Make a final document writable again for a replayed run.

        Returns False when nothing is stored for the job. A reopened document
        takes the replay's ``retries``; unless ``keep_attempts``, its attempt
        history moves to ``replays`` (see ``result_documents.reopening``).
        """
        change = reopening(self.get(job_id), retries, keep_attempts)
        if change is None:
            return False
        self._apply(job_id, change)
        return True

    @abstractmethod
    def _apply(self, job_id: str, change: Reopening) -> None:
        """Apply ``change`` to the stored document, whatever its state."""

    @abstractmethod
    def forget(self, job_id: str) -> None:
        """Delete the job's document."""

    @abstractmethod
    def purge(self, older_than: float) -> int:
        """Delete final results done more than ``older_than`` seconds ago; how many.

        Unfinished jobs' documents are kept, however old."""

    @abstractmethod
    def drop(self) -> None:
        """Delete every document of this store's database (tests, benchmarks)."""

    def owns_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` means this store failed (unreachable, refused)."""
        return False

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store reconnects when used again."""


def create_result_store(url: str, database: str) -> ResultStore:
    """The store for ``url``: in-process for ``memory://``, else MongoDB."""
    # Imported here: the memory store must not need pymongo, and the Mongo
    # one is only loaded by processes that talk to Mongo.
    if url.startswith(MEMORY_SCHEME):
        from .results_memory import MemoryResultStore

        return MemoryResultStore(url, database)
    from .results_mongo import MongoResultStore

    return MongoResultStore(url, database)
