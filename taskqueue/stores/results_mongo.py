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

import json
import logging
from typing import Any

import mongoengine
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from .result_documents import Reopening
from .results import ResultStore

logger = logging.getLogger("taskqueue.results")

DUPLICATE_KEY = 11000
COLLECTION = "taskqueue_results"

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


def readable(doc: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`storable`."""
    for name in JSON_TEXT_FIELDS:
        text = doc.pop(f"{name}_json", None)
        if text is not None:
            doc[name] = json.loads(text)
    return doc


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

    def write(self, docs: list[dict[str, Any]]) -> int:
        """Nearly every document is a job's first: ``insert_many`` writes those
        in one round trip (conditional upserts cost milliseconds each on
        some Mongo-compatible servers). The few that already exist (a retry's
        next attempt, a redelivery) come back as duplicate-key errors and
        take the ordered, conditional upsert path."""
        if not docs:
            return 0
        # Converted here, in the flushing thread, not on the worker's loop.
        docs = [storable(d) for d in docs]
        try:
            self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            refused = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if refused:
                # The server refused a value (a key it rejects, a shape it
                # cannot store). Retrying the same document would block the
                # partition forever: store its values as JSON text instead.
                for error in refused:
                    logger.warning(
                        "result of job %s refused by the server (%s); storing it as JSON text",
                        docs[error["index"]].get("_id"),
                        str(error.get("errmsg", ""))[:200],
                    )
                self.write([storable(docs[e["index"]], force=True) for e in refused])
            self._merge([docs[e["index"]] for e in errors if e.get("code") == DUPLICATE_KEY])
        return len(docs)

    def _merge(self, docs: list[dict[str, Any]]) -> None:
        # One call each: rare (retries, redeliveries), and some Mongo-wire
        # servers answer a bulk of failing upserts in a shape pymongo rejects.
        for doc in docs:
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

    def drop(self) -> None:
        self.collection.database.client.drop_database(self.database)

    def owns_error(self, exc: BaseException) -> bool:
        return isinstance(exc, PyMongoError)

    def close(self) -> None:
        if self._collection is not None:
            mongoengine.disconnect(self.alias)
            self._collection = None
