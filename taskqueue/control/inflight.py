"""What a worker holds right now, kept in its memory for the control plane.

Fed by the worker's lifecycle hooks (:class:`InFlightMiddleware`: received,
started, succeeded/failed/retried, in the worker's own process) and by the
job events of the state store (:mod:`taskqueue.control.feed`), which carry
every PROGRESS a task reports whether it runs in a pool thread or a child
process. Readers (gRPC, the RabbitMQ responder) get copies; watchers wait on
the registry's condition for a job's next change.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..message import Message
from ..middleware import Middleware
from ..states import READY_STATES, State

GRACE = 5.0
"""Seconds a received job may be missing from the loop's own bookkeeping
(it is being handed to the pool) before the registry drops it as gone."""


@dataclass(slots=True)
class Held:
    """One job this worker holds: what it runs, where it stands, its progress."""

    job_id: str
    task: str
    attempt: int
    state: str = State.RECEIVED.value
    received_at: float = 0.0
    started_at: float = 0.0
    updated_at: float = 0.0
    progress: dict[str, Any] | None = None
    thread_id: int | None = None
    final: bool = False
    version: int = 0


@dataclass(slots=True)
class Counters:
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0


class InFlight:
    """Thread-safe registry of held jobs, with change notification."""

    def __init__(self, held_ids: Callable[[], set[str]] | None = None) -> None:
        self._held_ids = held_ids
        self._jobs: dict[str, Held] = {}
        self._changed = threading.Condition()
        self.counters = Counters()

    # --- writers -------------------------------------------------------------
    def received(self, message: Message) -> None:
        now = time.time()
        with self._changed:
            self._jobs[message.id] = Held(
                message.id, message.task, message.retries, received_at=now, updated_at=now
            )
            self._changed.notify_all()

    def started(self, job_id: str, thread_id: int | None) -> None:
        self.update(job_id, State.STARTED.value, None, None, time.time(), thread_id)

    def update(
        self,
        job_id: str,
        state: str,
        attempt: int | None,
        payload: Any,
        ts: float,
        thread_id: int | None = None,
    ) -> None:
        """A state change of a held job (ignored for jobs not held, or older attempts)."""
        with self._changed:
            held = self._jobs.get(job_id)
            if held is None or held.final or (attempt is not None and attempt < held.attempt):
                return
            held.state = state
            held.updated_at = ts
            if state == State.STARTED.value and not held.started_at:
                held.started_at = ts
            if thread_id is not None:
                held.thread_id = thread_id
            if state == State.PROGRESS.value and isinstance(payload, dict):
                held.progress = payload
                held.started_at = held.started_at or ts
            held.version += 1
            self._changed.notify_all()

    def finished(self, job_id: str, state: str) -> None:
        with self._changed:
            c = self.counters
            c.processed += 1
            if state == State.SUCCESS.value:
                c.succeeded += 1
            elif state == State.RETRY.value:
                c.retried += 1
            else:
                c.failed += 1
            held = self._jobs.pop(job_id, None)
            if held is not None:
                held.state, held.final, held.updated_at = state, True, time.time()
                held.version += 1
            self._changed.notify_all()

    # --- readers -------------------------------------------------------------
    def get(self, job_id: str) -> Held | None:
        self._prune()
        with self._changed:
            held = self._jobs.get(job_id)
            return dataclasses.replace(held) if held is not None else None

    def get_state(self, job_id: str) -> str | None:
        """The state of a held job, without copying (hot path of the event feed)."""
        held = self._jobs.get(job_id)
        return held.state if held is not None else None

    def snapshot(self) -> list[Held]:
        self._prune()
        with self._changed:
            return [dataclasses.replace(h) for h in self._jobs.values()]

    def __len__(self) -> int:
        return len(self._jobs)

    def watch(self, job_id: str, after: int, timeout: float) -> Held | None:
        """The job once its version passes ``after`` (a copy), or as it is at timeout.

        A job that is no longer held comes back as its final copy when it
        finished here, else None.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            held = self._jobs.get(job_id)
            if held is None:
                return None
            while held.version <= after and not held.final:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return dataclasses.replace(held)

    def _prune(self) -> None:
        """Forget jobs the loop no longer has (released on a rebalance, lost)."""
        if self._held_ids is None:
            return
        alive = self._held_ids()
        cutoff = time.time() - GRACE
        with self._changed:
            gone = [i for i, h in self._jobs.items() if i not in alive and h.received_at < cutoff]
            for job_id in gone:
                held = self._jobs.pop(job_id)
                held.final = True
                held.version += 1
            if gone:
                self._changed.notify_all()


class InFlightMiddleware(Middleware):
    """Feeds :class:`InFlight` from the worker's lifecycle hooks."""

    def __init__(self, inflight: InFlight) -> None:
        self.inflight = inflight

    def received(self, message: Message) -> None:
        self.inflight.received(message)

    def started(self, message: Message) -> None:
        # In a thread pool this runs in the task's own thread: the id lets
        # Revoke(terminate) find it. (In a process pool it runs in the child,
        # whose app has no control plane: the feed reports STARTED instead.)
        self.inflight.started(message.id, threading.get_ident())

    def succeeded(self, message: Message, result: Any, runtime: float) -> None:
        self.inflight.finished(message.id, State.SUCCESS.value)

    def failed(self, message: Message, error: dict[str, Any]) -> None:
        self.inflight.finished(message.id, State.FAILURE.value)

    def retried(self, message: Message, error: dict[str, Any], countdown: float | None) -> None:
        self.inflight.finished(message.id, State.RETRY.value)


def progress_of(held: Held) -> dict[str, Any]:
    """``{current, total, percent, message}`` of a held job (Nones when unknown)."""
    p = held.progress or {}
    current, total = p.get("current"), p.get("total")
    percent = p.get("percent")
    if percent is None and total:
        try:
            percent = round(100.0 * float(current or 0) / float(total), 1)
        except (TypeError, ValueError):
            percent = None
    return {"current": current, "total": total, "percent": percent, "message": p.get("message")}


FINAL_STATES = frozenset(s.value for s in READY_STATES)
