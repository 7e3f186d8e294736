"""Worker lifecycle events -> Job rows, off the poll loop and batched.

:class:`JobLifecycle` is a taskqueue middleware (registered on the project
app in ``config/taskqueue.py``). Its hooks only *enqueue* a transition; one
writer thread per worker process applies them in batches, one transaction
per batch. Why:

- ``received``, ``succeeded``, ``failed`` and ``retried`` run in the
  worker's poll loop, which must never wait on a database lock;
- one transaction for many rows is what lets SQLite keep up;
- every write is a conditional UPDATE (:mod:`jobs.transitions`), so the
  order in which batches land never matters for correctness: a late or
  repeated event matches no row.

Progress ticks never reach this module: they go to Redis only. When a job
turns final, its last progress is copied from Redis into the row (one
pipelined read per batch) so the row keeps it after the Redis key expires.

A worker killed before its writer flushed loses some transitions; Redis and
Mongo still hold the truth and the API heals the row when it next reads it
(:func:`jobs.live.heal`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections, transaction
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import transitions
from jobs.transitions import Transition
from taskqueue import Message, Middleware
from taskqueue.states import READY_STATES, State

if TYPE_CHECKING:
    from taskqueue import TaskQueue

logger = logging.getLogger("jobs.lifecycle")

BATCH_SIZE = 200
"""Most transitions applied in one transaction."""

ERROR_LENGTH = 1000
"""The row keeps a short error summary; Mongo keeps the whole traceback."""


def error_summary(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    text = f"{error.get('exc_type', 'Error')}: {error.get('exc_message', '')}"
    return text[:ERROR_LENGTH]


class TransitionWriter:
    """A queue and one daemon thread that applies transitions in batches."""

    def __init__(self, apply_batch: Callable[[list[Transition]], None]) -> None:
        self._apply_batch = apply_batch
        self._queue: queue.SimpleQueue[Transition | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def put(self, transition: Transition) -> None:
        self._ensure_started()
        self._idle.clear()
        self._queue.put(transition)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown)."""
        if self._thread is None:
            return True
        self._queue.put(None)  # a marker: wakes the thread even when idle
        return self._idle.wait(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="jobs-lifecycle", daemon=True
                )
                self._thread.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [t for t in batch if t is not None]
            if items:
                self._write(items)
            if self._queue.empty():
                self._idle.set()

    def _write(self, items: list[Transition]) -> None:
        for attempt in range(3):
            # Thread-local Django connections: drop any that went stale.
            close_old_connections()
            try:
                self._apply_batch(items)
                return
            except Exception:
                logger.exception(
                    "writing %d job transition(s) failed (try %d of 3)", len(items), attempt + 1
                )
            finally:
                close_old_connections()
        logger.error(
            "dropped %d job transition(s) (first: job %s -> %s); the API heals the rows "
            "from Redis/Mongo when it reads them",
            len(items),
            items[0].job_id,
            items[0].state.value,
        )


class JobLifecycle(Middleware):
    """Moves Job rows as workers report (received, started, retried, final)."""

    def __init__(self, app: TaskQueue | None = None) -> None:
        self.app = app
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.writer = TransitionWriter(self.apply_batch)

    # --- hooks (worker side) ---------------------------------------------
    def received(self, message: Message) -> None:
        self._put(message, State.RECEIVED, worker=self.worker)

    def started(self, message: Message) -> None:
        now = timezone.now()
        first_start = Coalesce("started_at", Value(now, output_field=DateTimeField()))
        self._put(message, State.STARTED, at=now, started_at=first_start, worker=self.worker)

    def succeeded(self, message: Message, result: Any, runtime: float) -> None:
        self._put(message, State.SUCCESS, error="", result_ref=message.id)

    def failed(self, message: Message, error: dict[str, Any]) -> None:
        self._put(message, State.FAILURE, error=error_summary(error), result_ref=message.id)

    def retried(self, message: Message, error: dict[str, Any], countdown: float | None) -> None:
        self._put(message, State.RETRY, error=error_summary(error))

    # --- writing ---------------------------------------------------------
    def _put(
        self, message: Message, state: State, at: datetime | None = None, **fields: Any
    ) -> None:
        try:
            uuid.UUID(message.id)
        except ValueError:
            return  # not a Job's id: some other task of the app
        self.writer.put(
            Transition(message.id, state, message.retries + 1, at or timezone.now(), fields)
        )

    def apply_batch(self, items: list[Transition]) -> None:
        progress = self._last_progress([t.job_id for t in items if t.state in READY_STATES])
        with transaction.atomic():
            for t in items:
                if t.job_id in progress:
                    t.fields.update(progress[t.job_id])
                transitions.apply(t)

    def _last_progress(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The last progress Redis holds for jobs turning final (one round trip)."""
        if not job_ids or self.app is None:
            return {}
        try:
            metas = self.app.state_backend.iter_ids(job_ids)
        except Exception:
            logger.warning("could not read last progress from Redis", exc_info=True)
            return {}
        out = {}
        for job_id, meta in zip(job_ids, metas, strict=True):
            fields = progress_fields(meta)
            if fields:
                out[job_id] = fields
        return out


def progress_fields(meta: dict[str, str]) -> dict[str, Any]:
    """Row columns from a Redis PROGRESS payload ``{current, total, message}``."""
    if meta.get("state") != State.PROGRESS.value or not meta.get("payload"):
        return {}
    try:
        payload = json.loads(meta["payload"])
        current, total = payload.get("current"), payload.get("total")
        return {
            "progress_current": max(0, int(current)) if current is not None else None,
            "progress_total": max(0, int(total)) if total is not None else None,
            "progress_message": str(payload.get("message") or "")[:300],
        }
    except (ValueError, TypeError, AttributeError):
        return {}
