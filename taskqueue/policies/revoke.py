"""Revocations: a revoked job never starts anywhere; with terminate, a running one stops.

``AsyncResult(id).revoke(terminate=False)`` and ``app.control.revoke(id)``
do three things, all idempotent:

1. store a final REVOKED state (Redis) and result document (Mongo) unless
   the job is final already (:func:`mark_revoked`);
   every worker refuses to run a job whose state is final when its record
   arrives, whether from its queue or, later, from a delay tier;
2. add the id to the state store's revocations, which expire ``revoke_ttl``
   after they were made (``StateStore.add_revocation``);
3. publish it on the store's revocation feed (same call).

A revocation outlives its job. A job sent with an eta further ahead than
half of ``revoke_ttl`` or ``state_ttl`` has its due time noted in the state
store when it is published (:func:`remember_due`; the worker does the same
for a far retry). A revoke then keeps the REVOKED state and the revocation
until that time plus :data:`DUE_MARGIN`, so a job revoked now and due in a
week is refused when it arrives. Jobs due sooner cost nothing extra. Behind
that, the redelivery check of old jobs reads the durable result
(``worker.redelivery``), which holds the REVOKED outcome too.

Each worker keeps the set in memory (loaded when it subscribes, so nothing
published while it was away is missed) and checks it right before a body
starts, free of any round trip: a job revoked while it waits in the pool's
queue does not start either. On ``terminate=True`` the worker running the
job raises :class:`TaskRevokedError` in its thread (the control plane's
``terminate``), or, on the process pool, kills the child running it
(SIGTERM, then SIGKILL) and starts a new one; the attempt ends REVOKED.

This is the one revoke module: ``AsyncResult.revoke``, ``app.control.revoke``,
the gRPC ``Revoke`` (:func:`revoke`, which also says whether the attempt
running in the answering worker was interrupted), the CLI and the Django
app's cancel all end here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..control import terminate as killer
from ..control.commands import WorkerCommands
from ..middleware import Admission, Middleware, Stage
from ..states import READY_STATES, RETRY, REVOKED
from ..stores.result_documents import revoked_error
from ..stores.state import APPLIED, RevocationNotice, StateUpdate

if TYPE_CHECKING:
    from ..app import TaskQueue
    from ..control.inspect import Inspect
    from ..message import Message

logger = logging.getLogger("taskqueue.revoke")

DUE_MARGIN = 3600.0
"""Seconds a revocation outlives its job's due time: a late tier hop, clocks
apart, a backlog in front of the job."""

NOTE_DUE_AFTER = 0.5
"""A job due later than this share of the shorter of ``revoke_ttl`` and
``state_ttl`` has its due time noted at publish."""

PRUNE_ABOVE = 1024
"""The worker's copy drops expired ids once it holds more than this (and
more than twice what it held after the last pruning)."""


class Revocations:
    """Publishing side (any process) and the worker's in-memory copy."""

    def __init__(self, app: TaskQueue, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.clock = clock
        self._ids: dict[str, float] = {}  # id -> expiry (epoch)
        self._prune_above = PRUNE_ABOVE
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- publishing ---------------------------------------------------------
    def revoke(self, job_id: str, terminate: bool = False, reason: str = "") -> bool:
        """Revoke ``job_id``; True if it is revoked now or was before (not if it finished)."""
        ttl = revocation_ttl(self.app, job_id)
        revoked, detail = mark_revoked(self.app, job_id, reason or "revoked", keep_for=ttl)
        if not revoked:
            logger.info("job %s not revoked: %s", job_id, detail)
            return False
        self.app.state.add_revocation(job_id, terminate, ttl)
        logger.warning("job %s revoked (%s, terminate=%s)", job_id, detail, terminate)
        return True

    # --- the worker's copy -----------------------------------------------------
    def is_revoked(self, job_id: str) -> bool:
        if not self._ids:
            return False
        with self._lock:
            expiry = self._ids.get(job_id)
        return expiry is not None and expiry > self.clock()

    def __len__(self) -> int:
        """Ids in the worker's copy (for tests: expired ones do not pile up)."""
        with self._lock:
            return len(self._ids)

    @property
    def following(self) -> bool:
        """Whether this copy follows the feed (only a worker's does)."""
        return self._thread is not None and not self._stop.is_set()

    def start(self) -> Revocations:
        """Follow revocations in a background thread (the worker calls this)."""
        self._thread = threading.Thread(target=self._run, name="taskqueue-revoke", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:
                if not self.app.state.owns_error(exc):
                    raise
                logger.warning("revocation feed lost (%s); reconnecting", exc)
                self._stop.wait(0.5)

    def _listen(self) -> None:
        with self.app.state.subscribe_revocations() as feed:
            # Subscribed first, loaded second: a revocation published in
            # between is in the set or arrives on the feed, never neither.
            active = self.app.state.active_revocations()
            with self._lock:
                self._ids = active
                self._prune_above = max(PRUNE_ABOVE, 2 * len(active))
            while not self._stop.is_set():
                notice = feed.get(timeout=0.5)
                if notice is not None:
                    self._apply(notice)

    def _apply(self, notice: RevocationNotice) -> None:
        with self._lock:
            now = self.clock()
            self._ids[notice.job_id] = now + (notice.ttl or self.app.settings.revoke_ttl)
            if len(self._ids) > self._prune_above:
                # Expired ids would otherwise stay until the feed reconnects:
                # a long-lived worker would keep every revocation ever made.
                # Pruning when the copy doubles keeps the cost per notice O(1).
                self._ids = {k: t for k, t in self._ids.items() if t > now}
                self._prune_above = max(PRUNE_ABOVE, 2 * len(self._ids))
        if notice.terminate and killer.terminate(notice.job_id):
            logger.warning("job %s terminated by a revoke", notice.job_id)


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a revoke did, as the control plane reports it."""

    revoked: bool
    """Revoked now, or before (False: it had finished)."""
    terminated: bool
    """An attempt running in this process was interrupted."""
    detail: str


def revoke(app: TaskQueue, job_id: str, terminate: bool, reason: str = "") -> Revocation:
    """Revoke for the control plane: as :meth:`Revocations.revoke`, and say
    whether the attempt running here (this worker) was interrupted."""
    running_here = killer.is_running(job_id)
    revoked = app.revocations.revoke(job_id, terminate, reason or "revoked by the control plane")
    terminated = revoked and terminate and running_here
    detail = "revoked" if revoked else "not revoked: finished already"
    if terminated:
        detail += "; running attempt interrupted"
    return Revocation(revoked, terminated, detail)


def remember_due(app: TaskQueue, message: Message) -> None:
    """Note ``message``'s due time if a revoke made before it must outlive
    ``revoke_ttl`` or ``state_ttl`` (see the module's docstring)."""
    if message.eta is None:
        return
    s = app.settings
    ahead = message.eta - time.time()
    if ahead > min(s.revoke_ttl, s.state_ttl) * NOTE_DUE_AFTER:
        app.state.remember_due(message.id, message.eta, ahead + DUE_MARGIN)


def revocation_ttl(app: TaskQueue, job_id: str) -> float:
    """How long a revocation of ``job_id`` made now must last: ``revoke_ttl``,
    or until its noted due time plus :data:`DUE_MARGIN` if that is later."""
    ttl = float(app.settings.revoke_ttl)
    due = app.state.due_of(job_id)
    if due is not None:
        ttl = max(ttl, due - time.time() + DUE_MARGIN)
    return ttl


def close_job(
    app: TaskQueue, job_id: str, state: str, error: dict[str, str], keep_for: float = 0.0
) -> tuple[bool, str]:
    """Store a final ``state`` for a job that will not run (unless final already).

    Every worker then acks its record unrun, and a late run cannot store over
    it. ``keep_for`` keeps that state at least so many seconds (a job due
    after ``state_ttl``). Returns (closed in this state, now or before; detail).
    """
    store = app.state
    current = store.read(job_id)
    if current.get("state") in {s.value for s in READY_STATES}:
        previous = current["state"]
        return previous == state, f"already {previous}"
    attempt = int(current.get("attempt") or 0)
    if current.get("state") == RETRY.value:
        attempt += 1  # RETRY ended its attempt: what is closed is the next one
    code, previous = store.write(StateUpdate(job_id, state, attempt, payload=error))[:2]
    if code != APPLIED:
        return previous == state, f"already {previous}"
    if keep_for > app.settings.state_ttl:
        store.keep_state(job_id, keep_for)
    if app.settings.results_enabled:
        try:
            app.result_store.mark_final(job_id, state, attempt, error)
        except Exception as exc:  # the state store already refuses a late result
            logger.warning("job %s: %s not stored in the result store: %s", job_id, state, exc)
    return True, f"stored {state}"


def mark_revoked(
    app: TaskQueue, job_id: str, reason: str, keep_for: float = 0.0
) -> tuple[bool, str]:
    """Store a final REVOKED (see :func:`close_job`)."""
    return close_job(app, job_id, REVOKED.value, revoked_error(reason), keep_for)


REVOKED_ERROR = {"exc_type": "Revoked", "exc_message": "revoked before it started"}
"""Payload of the REVOKED outcome of a job refused because it was revoked."""


class RevokePolicy(Middleware):
    """Refuses, right before its body starts, a job revoked while it waited
    in the pool's queue (the worker's in-memory copy: no round trip).

    At receipt there is nothing to decide: a revoked job's REVOKED state is
    final, so the state store's answer to the RECEIVED write already has the
    loop ack it unrun.
    """

    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        revocations = app.running_revocations
        if revocations is None:
            return  # not a worker: nothing follows revocations here
        for a in batch:
            if a.stage is Stage.STARTING and revocations.is_revoked(a.message.id):
                a.refuse(REVOKED.value, REVOKED_ERROR)


class Control(WorkerCommands):
    """``app.control``: Celery's remote-control entry points (the commands that
    change workers, pool_grow to add_consumer, are in :mod:`taskqueue.control.commands`)."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app

    def revoke(
        self, job_id: str | list[str], terminate: bool = False, reason: str = ""
    ) -> list[str]:
        """Revoke one or several jobs; returns the ids revoked (now or before)."""
        ids = [job_id] if isinstance(job_id, str) else list(job_id)
        return [i for i in ids if self.app.revocations.revoke(i, terminate, reason)]

    def rate_limit(self, task: str, rate: str) -> tuple[str, str]:
        """Override ``task``'s rate limit on every worker (``""`` = back to the
        declared one); returns the limit in force now and the one before."""
        return self.app.rate_limiter.set(task, rate)

    def inspect(self, destination: list[str] | str | None = None, timeout: float = 1.0) -> Inspect:
        """Celery's ``app.control.inspect()``: ask live workers over gRPC
        (:class:`taskqueue.control.inspect.Inspect`)."""
        from ..control.inspect import Inspect

        return Inspect(self.app, destination, timeout)
