"""Durable results in MongoDB (or a Mongo-wire server such as FerretDB).

Collection ``taskqueue_results`` of the store's database, one document per
job keyed by its id; the rules are :class:`~taskqueue.stores.results.ResultStore`'s.

Ordering: a write matches only while the stored document is not final and
its attempt is not newer. When it does not match, the upsert tries to insert
a second document with the same ``_id`` and Mongo answers "duplicate key",
which is exactly "a newer or final result is already stored": that error is
expected and ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import mongoengine
from bson.errors import InvalidDocument
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from .result_documents import Reopening, unstorable
from .results import PERMANENT, TRANSIENT, Kind, ResultStore, WriteReport

logger = logging.getLogger("taskqueue.results")

DUPLICATE_KEY = 11000
INDEX_OPTIONS_CONFLICT = 85
TTL_INDEX = "date_done_ttl"
COLLECTION = "taskqueue_results"

TRANSIENT_CODES = frozenset(
    {6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 16500}
)
"""Server error codes that pass: host unreachable or not found, time limit,
network timeout, shutdown, write conflict, primary stepped down, socket
error, not primary, interrupted at shutdown, throttled (Cosmos DB's 16500).
Any other code a server gives one document is that document's fault."""

JSON_TEXT_FIELDS = ("result", "args", "kwargs")
"""Fields stored as JSON text (in ``<field>_json``) when Mongo-wire servers
would refuse their value: FerretDB rejects an array directly inside an array
(``[[1, 2], [3]]``), and a result that can never be written would block its
partition's commits forever. ``get`` decodes them back, so readers never see
the difference."""


def _nested_array(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, (list, tuple)) or _nested_array(v) for v in value)
    if isinstance(value, dict):
        return any(_nested_array(v) for v in value.values())
    return False


def storable(doc: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """``doc`` with every value a Mongo-wire server may refuse as JSON text
    (``force``: every such field, whatever its shape)."""
    out = dict(doc)
    for name in JSON_TEXT_FIELDS:
        if name in out and out[name] is not None and (force or _nested_array(out[name])):
            out[f"{name}_json"] = json.dumps(out.pop(name), default=repr)
            out[name] = None
    return out


def _describe(exc: BaseException) -> str:
    """A short reason for an operator, from a refused document's error."""
    if isinstance(exc, OverflowError):
        return "an integer exceeds MongoDB's 64-bit range"
    text = str(exc).split(", full error:")[0]
    return text if len(text) <= 300 else text[:300] + "..."


def readable(doc: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`storable`."""
    for name in JSON_TEXT_FIELDS:
        text = doc.pop(f"{name}_json", None)
        if text is not None:
            doc[name] = json.loads(text)
    return doc


def expected_stored(doc: dict[str, Any]) -> bool:
    """Whether ``doc``'s job most likely has a document already: a later
    attempt (its RETRY was stored) or a redelivered copy of an attempt."""
    if int(doc.get("retries") or 0) > 0:
        return True
    attempts = doc.get("attempts") or {}
    return any(isinstance(a, dict) and a.get("redelivered") for a in attempts.values())


class MongoResultStore(ResultStore):
    """Buffered, idempotent writer and simple reader of result documents."""

    service = "MongoDB"

    def __init__(self, url: str, database: str) -> None:
        super().__init__(url, database)
        self.alias = f"taskqueue:{database}"
        self._collection: Any = None

    @property
    def collection(self) -> Any:
        """The pymongo collection (connected on first use)."""
        if self._collection is None:
            try:
                mongoengine.get_connection(self.alias)
            except mongoengine.connection.ConnectionFailure:
                mongoengine.register_connection(
                    self.alias,
                    db=self.database,
                    host=self.url,
                    serverSelectionTimeoutMS=5000,
                    # A server that stops answering must not hang the
                    # worker's flush thread forever: bounded, then retried.
                    connectTimeoutMS=5000,
                    socketTimeoutMS=30000,
                    uuidRepresentation="standard",
                )
            # ``result_database`` wins over a database named in the URL path
            # (mongoengine would prefer the URL's).
            self._collection = mongoengine.get_connection(self.alias)[self.database][COLLECTION]
        return self._collection

    def write_checked(self, docs: list[dict[str, Any]]) -> WriteReport:
        """Nearly every document is a job's first: ``insert_many`` writes those
        in one round trip (conditional upserts cost milliseconds each on
        some Mongo-compatible servers). A document that should already be
        stored (:func:`expected_stored`: a retry's next attempt, a
        redelivered copy) goes straight to the conditional upsert, one round
        trip instead of a refused insert and then the upsert. A first write
        that meets a stored document anyway comes back as a duplicate-key
        error and takes the same upsert. Documents the server or the client
        refuses are settled one by one (:meth:`_refused`)."""
        report = WriteReport(len(docs))
        if not docs:
            return report
        # Converted here, in the flushing thread, not on the worker's loop.
        prepared = [storable(d) for d in docs]
        stored = [expected_stored(doc) for doc in docs]
        first = [i for i, known in enumerate(stored) if not known]
        merges = [i for i, known in enumerate(stored) if known]
        if first:
            for error in self._insert_first([prepared[i] for i in first]):
                index = first[error["index"]]
                if error.get("code") == DUPLICATE_KEY:
                    merges.append(index)
                elif self._code_kind(error.get("code"), error.get("errorLabels")) == TRANSIENT:
                    report.retry.append(docs[index])
                else:
                    self._refused(docs[index], str(error.get("errmsg") or error.get("exc")), report)
        for index in merges:
            try:
                self._merge(prepared[index])
            except Exception as exc:
                if self.classify(exc) == TRANSIENT:
                    raise
                self._refused(docs[index], _describe(exc), report)
        return report

    def _insert_first(self, prepared: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert a batch in one round trip; the errors, in ``writeErrors``
        shape, of the documents not inserted."""
        try:
            self.collection.insert_many(prepared, ordered=False)
            return []
        except BulkWriteError as exc:
            return list(exc.details.get("writeErrors", []))
        except Exception as exc:
            if self.classify(exc) == TRANSIENT:
                raise
            # The client refused to encode the batch (an integer over 64
            # bits, a document over 16 MiB) and names no document: find it.
            return self._one_by_one(prepared)

    def _one_by_one(self, prepared: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert each document; the errors in ``writeErrors`` shape."""
        errors: list[dict[str, Any]] = []
        for index, doc in enumerate(prepared):
            try:
                self.collection.insert_one(doc)
            except DuplicateKeyError:  # written by the failed batch, or earlier
                errors.append({"index": index, "code": DUPLICATE_KEY})
            except Exception as exc:
                if self.classify(exc) == TRANSIENT:
                    raise
                errors.append(
                    {"index": index, "code": getattr(exc, "code", None), "exc": _describe(exc)}
                )
        return errors

    def _refused(self, doc: dict[str, Any], reason: str, report: WriteReport) -> None:
        """Settle a document refused for good.

        First as JSON text: JSON holds integers of any size and any key, so
        the user gets the value they returned (``get`` decodes it back). A
        document that JSON text does not save (too large) becomes a FAILURE
        that names why; transient errors here propagate (retry the batch).
        """
        try:
            self._put(storable(doc, force=True))
            logger.warning(
                "result of job %s refused by the server (%s); stored as JSON text",
                doc.get("_id"),
                reason[:200],
            )
            return
        except Exception as exc:
            if self.classify(exc) == TRANSIENT:
                raise
            reason = _describe(exc)
        logger.error("result of job %s not storable: %s; storing a FAILURE", doc["_id"], reason)
        self._put(unstorable(doc, reason))
        report.failed[doc["_id"]] = reason

    def _put(self, doc: dict[str, Any]) -> None:
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            self._merge(doc)

    def _merge(self, doc: dict[str, Any]) -> None:
        # One call per document: rare (retries, redeliveries), and some
        # Mongo-wire servers answer a bulk of failing upserts in a shape
        # pymongo rejects.
        retries = int(doc.get("retries", 0))
        fields = {k: v for k, v in doc.items() if k not in ("_id", "attempts")}
        for key, attempt in (doc.get("attempts") or {}).items():
            fields[f"attempts.{key}"] = attempt
        try:
            # Matches only a non-final document of an older or equal
            # attempt; otherwise the upsert collides on _id and the newer
            # result stays.
            self.collection.update_one(
                {"_id": doc["_id"], "final": {"$ne": True}, "retries": {"$lte": retries}},
                {"$set": fields},
                upsert=True,
            )
        except DuplicateKeyError:
            logger.debug("result of job %s already final or newer; kept", doc["_id"])

    def classify(self, exc: BaseException) -> Kind:
        if isinstance(exc, BulkWriteError):
            # Only raised from here with its details consumed; as a whole it
            # means the batch as a whole may be retried.
            return TRANSIENT
        if isinstance(exc, (ConnectionFailure, ExecutionTimeout, WTimeoutError)):
            return TRANSIENT
        if isinstance(exc, OperationFailure):
            return self._code_kind(exc.code, exc.details and exc.details.get("errorLabels"))
        if isinstance(exc, PyMongoError) and not isinstance(exc, InvalidDocument):
            return TRANSIENT
        # OverflowError, InvalidDocument (DocumentTooLarge, bad keys),
        # TypeError: the client cannot encode this document, ever.
        return PERMANENT

    @staticmethod
    def _code_kind(code: int | None, labels: Any = None) -> Kind:
        if code in TRANSIENT_CODES or (labels and "RetryableWriteError" in labels):
            return TRANSIENT
        return PERMANENT

    def get(self, job_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self.collection.find_one({"_id": job_id})
        return None if doc is None else readable(doc)

    def _apply(self, job_id: str, change: Reopening) -> None:
        update: dict[str, Any] = {"$set": change.set}
        if change.unset:
            update["$unset"] = {path: "" for path in change.unset}
        self.collection.update_one({"_id": job_id}, update)

    def forget(self, job_id: str) -> None:
        self.collection.delete_one({"_id": job_id})

    def expire_after(self, seconds: float) -> bool:
        """A TTL index on ``date_done`` (set on final documents only, so an
        unfinished job's document never expires). A server without TTL
        indexes (FerretDB 1.x) gets a plain index there, for the purge."""
        collection = self.collection
        try:
            collection.create_index("date_done", name=TTL_INDEX, expireAfterSeconds=int(seconds))
            return True
        except OperationFailure as exc:
            if exc.code == INDEX_OPTIONS_CONFLICT:  # another expiry set before: change it
                collection.database.command(
                    "collMod",
                    collection.name,
                    index={"name": TTL_INDEX, "expireAfterSeconds": int(seconds)},
                )
                return True
            logger.info("%s keeps no TTL index (%s); beat purges expired results", self.url, exc)
        collection.create_index("date_done", name=TTL_INDEX)
        return False

    def purge(self, older_than: float) -> int:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        return int(
            self.collection.delete_many({"final": True, "date_done": {"$lt": cutoff}}).deleted_count
        )

    def drop(self) -> None:
        self.collection.database.client.drop_database(self.database)

    def owns_error(self, exc: BaseException) -> bool:
        return isinstance(exc, PyMongoError)

    def close(self) -> None:
        if self._collection is not None:
            mongoengine.disconnect(self.alias)
            self._collection = None
