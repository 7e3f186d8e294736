"""Results kept in this process, with the same rules as the MongoDB store.

For fast tests without services. Stores built for the same URL and database
share their documents (a module-level registry), the way apps that point at
one Mongo database share it: a test's client app reads what its worker app
stored. Each store keeps its own write buffer, as each Mongo store does, so
one worker's flush never writes another's documents.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from typing import Any

from .result_documents import Reopening, unstorable
from .results import MAX_DOCUMENT_BYTES, ResultStore, WriteReport


class _Database:
    """Documents by job id, shared by the stores of one URL and database."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()


_DATABASES: dict[tuple[str, str], _Database] = {}
_REGISTRY_LOCK = threading.Lock()


def _database(url: str, name: str) -> _Database:
    with _REGISTRY_LOCK:
        return _DATABASES.setdefault((url, name), _Database())


class MemoryResultStore(ResultStore):
    """In-process twin of :class:`~taskqueue.stores.results_mongo.MongoResultStore`."""

    service = "memory result store"

    def __init__(self, url: str, database: str) -> None:
        super().__init__(url, database)
        self._db = _database(url, database)

    def write_checked(self, docs: list[dict[str, Any]]) -> WriteReport:
        """Keeps any Python value, as the Mongo store does through JSON text;
        refuses, like MongoDB, a document over 16 MiB."""
        report = WriteReport(len(docs))
        with self._db.lock:
            for doc in docs:
                size = _size(doc)
                if size > MAX_DOCUMENT_BYTES:
                    reason = (
                        f"document of about {size} bytes exceeds MongoDB's "
                        f"{MAX_DOCUMENT_BYTES} bytes limit"
                    )
                    report.failed[doc["_id"]] = reason
                    doc = unstorable(doc, reason)
                self._write_one(copy.deepcopy(doc))
        return report

    def _write_one(self, doc: dict[str, Any]) -> None:
        stored = self._db.docs.get(doc["_id"])
        if stored is None:
            self._db.docs[doc["_id"]] = doc
            return
        retries = int(doc.get("retries", 0))
        if stored.get("final") is True or not (
            "retries" in stored and stored["retries"] <= retries
        ):
            return  # a newer or final result is already stored
        for key, value in doc.items():
            if key not in ("_id", "attempts"):
                stored[key] = value
        stored.setdefault("attempts", {}).update(doc.get("attempts") or {})

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._db.lock:
            doc = self._db.docs.get(job_id)
            return None if doc is None else copy.deepcopy(doc)

    def _apply(self, job_id: str, change: Reopening) -> None:
        with self._db.lock:
            doc = self._db.docs.get(job_id)
            if doc is None:
                return
            for path, value in change.set.items():
                parent, name = _parent(doc, path)
                parent[name] = copy.deepcopy(value)
            for path in change.unset:
                parent, name = _parent(doc, path)
                parent.pop(name, None)

    def forget(self, job_id: str) -> None:
        with self._db.lock:
            self._db.docs.pop(job_id, None)

    def purge(self, older_than: float) -> int:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        with self._db.lock:
            old = [
                job_id
                for job_id, doc in self._db.docs.items()
                if doc.get("final") is True and doc.get("date_done", cutoff) < cutoff
            ]
            for job_id in old:
                del self._db.docs[job_id]
        return len(old)

    def drop(self) -> None:
        with self._db.lock:
            self._db.docs.clear()

    def close(self) -> None:
        """Nothing to release; the documents outlive the store, as in Mongo."""


def _size(doc: dict[str, Any]) -> int:
    """About the document's BSON size: its JSON length (no bson here)."""
    return len(json.dumps(doc, default=repr))


def _parent(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The dict that holds the dotted ``path``'s last name (made as needed)."""
    *parents, name = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    return doc, name
