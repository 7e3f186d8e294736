"""The result document: the one module that builds it and its changes.

One document per job, keyed by the job id (the fields are listed in
docs/protocol.md, "Result document"). Three writers produce it:

- a worker, when an attempt ends (:func:`outcome_document`, with the
  attempt's entry from :func:`attempt_entry`);
- anyone who ends a job from outside a run: a revoke, or a submission that
  never reached Kafka (:func:`closing_document`);
- dead-letter replay, which reopens a final document so the replayed run can
  store a new result (:func:`reopening`).

Values (``result``, ``args``, ``kwargs``) are JSON data with dates,
decimals, UUIDs and bytes tagged as Celery's JSON serializer tags them
(:mod:`taskqueue.serialization`); ``AsyncResult`` decodes the tags.

Stores write these as they are: they decide how to merge them (see
:class:`~taskqueue.stores.results.ResultStore`), never what is in them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..serialization import tagged_data
from ..states import FAILURE, READY_STATES

if TYPE_CHECKING:
    from ..message import Message
    from ..worker.execute import Outcome

REVOKED_EXC_TYPE = "Revoked"
"""``error.exc_type`` of a job revoked from outside its run."""


def attempt_entry(
    outcome: Outcome,
    *,
    worker: str,
    received_at: float,
    redelivered: bool,
    partition: int,
    offset: int,
) -> dict[str, Any]:
    """How one attempt went, for the document's ``attempts`` history."""
    return {
        "state": outcome.state,
        "worker": worker,
        "error": outcome.error,
        "received_at": received_at,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "runtime": outcome.runtime,
        "redelivered": redelivered,
        "partition": partition,
        "offset": offset,
    }


def outcome_document(
    message: Message, outcome: Outcome, *, worker: str, attempt: dict[str, Any]
) -> dict[str, Any]:
    """The document an ended attempt stores (RETRY, SUCCESS, FAILURE, REVOKED)."""
    doc: dict[str, Any] = {
        "_id": message.id,
        "task": message.task,
        "state": outcome.state,
        "retries": message.retries,
        "result": outcome.result,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "queue": message.queue,
        "root_id": message.root_id,
        "parent_id": message.parent_id,
        "group_id": message.group,
        "args": tagged_data(list(message.args)),
        "kwargs": tagged_data(message.kwargs),
        "worker": worker,
        "runtime": outcome.runtime,
        "attempts": {str(message.retries): attempt},
    }
    if outcome.state in READY_STATES:
        doc["final"] = True
        doc["date_done"] = dt.datetime.now(dt.UTC)
    return doc


def closing_document(
    job_id: str, state: str, attempt: int, error: dict[str, str]
) -> dict[str, Any]:
    """A final ``state`` stored without a run: a revoke, a job never queued.

    It carries no task name nor arguments (the caller may not know them);
    the store keeps whatever an earlier attempt stored there.
    """
    now = dt.datetime.now(dt.UTC)
    return {
        "_id": job_id,
        "state": str(state),
        "final": True,
        "retries": attempt,
        "error": error,
        "date_done": now,
        "attempts": {
            str(attempt): {"state": str(state), "error": error, "finished_at": now.timestamp()}
        },
    }


UNSTORABLE_EXC_TYPE = "ResultNotStorable"
"""``error.exc_type`` of a job whose document the result store refused."""


def unstorable(doc: dict[str, Any], reason: str) -> dict[str, Any]:
    """The FAILURE document stored instead of ``doc``, which the store refused.

    It keeps what identifies the job and its history and drops the values
    (result, arguments, traceback), one of which the store cannot hold; the
    job's record, arguments included, is in its queue's dead-letter topic.
    """
    error = {"exc_type": UNSTORABLE_EXC_TYPE, "exc_message": f"result not storable: {reason}"}
    keep = ("_id", "task", "retries", "queue", "root_id", "parent_id", "group_id", "worker")
    out = {k: doc[k] for k in keep if k in doc}
    attempts = {
        key: {**attempt, "state": FAILURE.value, "error": error}
        for key, attempt in (doc.get("attempts") or {}).items()
    }
    return {
        **out,
        "state": FAILURE.value,
        "final": True,
        "result": None,
        "error": error,
        "traceback": None,
        "date_done": dt.datetime.now(dt.UTC),
        "attempts": attempts,
    }


def revoked_error(reason: str) -> dict[str, str]:
    """The ``error`` of a job revoked from outside its run (state and result)."""
    return {"exc_type": REVOKED_EXC_TYPE, "exc_message": reason}


@dataclass(frozen=True, slots=True)
class Reopening:
    """Changes to a stored document, by dotted field path (``replays.0``)."""

    set: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()


def reopening(doc: dict[str, Any] | None, retries: int, keep_attempts: bool) -> Reopening | None:
    """How to reopen ``doc`` for a replayed run; None when nothing is stored.

    The document stops being final (so the replay's result is stored over
    it) and takes the replay's ``retries``. A replay that starts counting
    again (``keep_attempts`` false) moves the attempt history to
    ``replays.<n>``, so the new attempts "0", "1"... do not mix with the old
    ones and nothing is lost.
    """
    if not doc:
        return None
    changes: dict[str, Any] = {"final": False, "retries": retries}
    if not keep_attempts and doc.get("attempts"):
        changes[f"replays.{len(doc.get('replays') or {})}"] = doc["attempts"]
        return Reopening(changes, ("attempts",))
    return Reopening(changes)
