"""Beat: periodic tasks, one leader among several beat processes.

``python -m taskqueue beat -A module`` reads the schedule from a
:class:`ScheduleSource` (by default :class:`CodeSchedule`, the app's
``beat_schedule`` dict; a database-backed source implements the same
``entries()`` method and is installed as ``app.beat_source``) and
publishes each entry's task when it is due. Entries take Celery's format
(``task``, ``schedule``, ``args``, ``kwargs``, ``options``); a schedule is
seconds, a ``timedelta``, ``schedules.schedule(...)`` or a crontab::

    app.conf.beat_schedule = {
        "refresh-rates": {"task": "rates.refresh", "schedule": 30.0},
        "nightly": {"task": "reports.daily", "schedule": crontab(minute=0, hour=3), "args": [1]},
    }
    app.add_periodic_task(timedelta(minutes=5), ping.s("hello"), name="ping")

Crontabs read the wall clock of the app's ``timezone`` setting (UTC by
default) unless they carry their own ``tz`` (:mod:`taskqueue.crontab`).
A source that also has ``fired(entry, tick, job_id)`` (:class:`RecordsRuns`)
hears of each tick once it is done, e.g. to store a last-run time.

Several beat processes may run. One is leader: it holds the state store's
beat lock (``StateStore.acquire_beat_lock``, ``beat_lock_ttl`` seconds,
renewed every third of it by a compare-and-extend). The others poll
for the lock; when a leader dies its lock expires and one of them takes
over, so failover takes at most ``beat_lock_ttl`` plus one poll (0.5 s).

No tick is lost and none fires twice. Ticks are aligned to the schedule
(interval ticks are multiples of the interval since the epoch, crontab
ticks are whole minutes, see :mod:`taskqueue.crontab`) and a tick's job id
is fixed: uuid5 of the entry name and the tick. Each firing goes through
three steps in the state store, per entry:

1. ``claim_beat_tick`` records the tick as *pending*, owned by this process
   for a lease (:attr:`Beat.tick_lease`); nobody else can claim it, nor any
   later tick of the entry, while the lease runs.
2. The job is published and Kafka acknowledges it.
3. ``finish_beat_tick`` marks the tick *done*: it never fires again, and it
   is the entry's last tick.

A leader that dies, or whose publish fails, between 1 and 3 leaves the
claim pending. The claim hands that same tick back (before any newer one)
to its owner when it retries, or to any leader once the lease expired, and
that leader publishes it again under the same job id: a copy that did reach
Kafka is the same job, so the retry is safe. After a gap with no pending
claim, only the most recent missed tick fires, Celery's behaviour.

A :class:`~taskqueue.exceptions.PublishError` never stops beat: the entry
is retried after a backoff (0.5 s doubling to 30 s) while the others go on;
a state-store outage backs off the whole loop the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .crontab import Crontab, crontab
from .exceptions import ConfigurationError, PublishError

if TYPE_CHECKING:
    from .app import TaskQueue
    from .canvas import Signature
    from .worker.metrics import BeatMetrics

__all__ = [
    "Beat",
    "CodeSchedule",
    "Crontab",
    "Entry",
    "RecordsRuns",
    "ScheduleSource",
    "add_periodic_task",
    "crontab",
    "every",
    "run_beat",
]

logger = logging.getLogger("taskqueue.beat")

_NAMESPACE = uuid.UUID("5b0a3c9e-1f8e-4c55-9a36-0d3f7d0e8a11")
"""Namespace of the job ids of beat ticks (uuid5 of entry name and tick)."""

LEASE_LOCK_TTLS = 3
"""A pending tick's lease, in beat lock TTLs (plus the publish timeout): an
old leader whose lock expired while it was paused may still be publishing,
and a republish while it does would only send a second copy."""

LOOP_INTERVAL = 0.5
"""Seconds between two passes over the schedule (and lock polls)."""


def tick_job_id(entry: str, tick: float) -> str:
    """The job id of one tick of one entry: the same for every leader and retry."""
    return str(uuid.uuid5(_NAMESPACE, f"{entry}@{tick!r}"))


class Backoff:
    """Delays after consecutive failures: 0.5 s doubling to 30 s, reset by a success."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0
        self.until = 0.0
        """``time.monotonic()`` before which the next attempt waits."""

    def failed(self) -> float:
        delay = min(self.cap, self.first * 2**self.failures)
        self.failures += 1
        self.until = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.until = 0.0

    def waiting(self) -> bool:
        return time.monotonic() < self.until


@dataclass(frozen=True)
class Entry:
    """One periodic task: ``schedule`` is seconds (interval) or a :class:`Crontab`."""

    name: str
    task: str
    schedule: float | Crontab
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def last_tick(self, now: float) -> float:
        if isinstance(self.schedule, Crontab):
            return self.schedule.last_tick(now)
        interval = float(self.schedule)
        return now - now % interval


class ScheduleSource(Protocol):
    """Where entries come from (code, or a database through Django admin)."""

    def entries(self) -> list[Entry]: ...


@runtime_checkable
class RecordsRuns(Protocol):
    """A source that wants to hear of each tick once it is done (a database
    storing last-run times). An error there is logged: the tick stays done."""

    def fired(self, entry: Entry, tick: float, job_id: str) -> None: ...


ENTRY_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options"})
"""The keys of a ``beat_schedule`` entry (Celery's, minus ``relative``)."""


def every(value: Any, what: str) -> float | Crontab:
    """A schedule beat runs: seconds > 0 (a number, ``timedelta`` or
    ``schedules.schedule``) or a crontab; ``what`` names it in the error."""
    if isinstance(value, Crontab):
        return value
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ConfigurationError(
        f"{what}: schedule must be seconds > 0, a timedelta or a crontab, not {value!r}"
    )


class CodeSchedule:
    """Entries from the app's ``beat_schedule`` dict (Celery's format)."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app

    def entries(self) -> list[Entry]:
        schedule: dict[str, dict[str, Any]] = getattr(self.app, "beat_schedule", {}) or {}
        out = []
        for name, spec in schedule.items():
            what = f"beat entry {name!r}"
            unknown = set(spec) - ENTRY_KEYS
            if unknown:
                why = (
                    "'relative' is not supported (interval ticks are aligned to the epoch)"
                    if "relative" in unknown
                    else f"unknown key(s) {', '.join(sorted(unknown))}"
                )
                raise ConfigurationError(f"{what}: {why}; keys are {', '.join(sorted(ENTRY_KEYS))}")
            if "task" not in spec or "schedule" not in spec:
                raise ConfigurationError(f"{what}: needs 'task' and 'schedule'")
            out.append(
                Entry(
                    name,
                    spec["task"],
                    every(spec["schedule"], what),
                    tuple(spec.get("args") or ()),
                    dict(spec.get("kwargs") or {}),
                    dict(spec.get("options") or {}),
                )
            )
        return out


def add_periodic_task(
    app: TaskQueue,
    schedule: Any,
    sig: Signature,
    args: Any = (),
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
    **options: Any,
) -> str:
    """``app.add_periodic_task``: a ``beat_schedule`` entry calling ``sig``.

    As in Celery, ``args``/``kwargs`` complete the signature's, ``options``
    go over its options, and the entry is named ``name`` or after the call
    (``tasks.test('hello')``), so two entries of one call need names. The
    name is the entry's identity: its ticks' job ids derive from it."""
    call = sig.clone(args, kwargs)
    call_options = {k: v for k, v in {**call.options, **options}.items() if k != "immutable"}
    key = name or _call_text(call.task, call.args, call.kwargs)
    every(schedule, f"periodic task {key!r}")  # a bad schedule fails here, not in beat
    app.beat_schedule[key] = {
        "task": call.task,
        "schedule": schedule,
        "args": tuple(call.args),
        "kwargs": dict(call.kwargs),
        "options": call_options,
    }
    return key


def _call_text(task: str, args: Any, kwargs: dict[str, Any]) -> str:
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{task}({', '.join(shown)})"


def builtin_entries(app: TaskQueue) -> list[Entry]:
    """The daily result cleanup, when results expire and the store won't expire them."""
    from .builtins import BACKEND_CLEANUP, needs_backend_cleanup

    if not needs_backend_cleanup(app):
        return []
    return [Entry(BACKEND_CLEANUP, BACKEND_CLEANUP, Crontab("0 4 * * *"))]


class Beat:
    """The scheduler loop of one beat process."""

    def __init__(
        self, app: TaskQueue, source: ScheduleSource | None = None, name: str | None = None
    ) -> None:
        self.app = app
        # Entries added by on_after_configure receivers (Celery's place for
        # add_periodic_task) exist from here on.
        app.finalize()
        # An app may name its own source (Django: the jobs app's database).
        self.source = source or getattr(app, "beat_source", None) or CodeSchedule(app)
        self.builtin = builtin_entries(app)
        """Entries every app has (see :mod:`taskqueue.builtins`)."""
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.token = f"{self.name}:{uuid.uuid4().hex}"
        """Owner of the lock and of tick claims: unique to this process, even
        when two processes were given the same name."""
        self.stop = threading.Event()
        self.leader_until = 0.0
        s = app.settings
        self.tick_lease = LEASE_LOCK_TTLS * s.beat_lock_ttl + s.publish_timeout
        """Seconds a pending tick stays this process's before another leader
        may publish it again."""
        self._entry_backoff: dict[str, Backoff] = {}
        self._loop_backoff = Backoff()
        self.metrics: BeatMetrics | None = None
        """Set by :func:`run_beat` when it serves ``beat_metrics_port``."""

    def is_leader(self) -> bool:
        return time.monotonic() < self.leader_until

    def _lead(self) -> bool:
        """Take or extend the lock; True while this process leads."""
        state = self.app.state
        ttl = self.app.settings.beat_lock_ttl
        started = time.monotonic()
        if self.is_leader():
            held = state.renew_beat_lock(self.token, ttl)
        else:
            held = state.acquire_beat_lock(self.token, ttl)
            if held:
                logger.warning("beat %s is now the leader", self.name)
        # Lead a little less than the lock lives, measured from before the call.
        self.leader_until = started + ttl * 0.8 if held else 0.0
        return held

    def tick(self, now: float | None = None) -> list[str]:
        """Fire every due entry once; returns the job ids published.

        An entry whose publish fails is logged and retried after its backoff
        (its claim stays pending); the others go on. A state-store error
        propagates: every entry needs the store, :meth:`run` backs off."""
        now = time.time() if now is None else now
        fired = []
        for entry in self.entries():
            backoff = self._entry_backoff.get(entry.name)
            if backoff is not None and backoff.waiting():
                continue
            try:
                job_id = self._fire_due(entry, now)
            except Exception as exc:
                if self.app.state.owns_error(exc):
                    raise
                backoff = self._entry_backoff.setdefault(entry.name, Backoff())
                delay = backoff.failed()
                # PublishError is the expected one (Kafka down, topic missing);
                # anything else is one entry's bug and must not stop the others.
                logger.error(
                    "beat could not fire %s (task %s): %s; its tick stays pending, retry in %gs",
                    entry.name,
                    entry.task,
                    exc,
                    delay,
                    exc_info=not isinstance(exc, PublishError),
                )
                continue
            self._entry_backoff.pop(entry.name, None)
            if job_id is not None:
                fired.append(job_id)
                if self.metrics is not None:
                    self.metrics.published(entry.name)
        return fired

    def _fire_due(self, entry: Entry, now: float) -> str | None:
        """Claim, publish, finish one entry's tick; the job id, or None if none was due."""
        state = self.app.state
        due = entry.last_tick(now)
        last = state.beat_last_tick(entry.name)
        if last is not None and last >= due:
            return None  # fired already (a pending claim keeps the last tick older)
        tick = state.claim_beat_tick(entry.name, due, self.token, self.tick_lease)
        if tick is None:
            return None  # another leader holds or fired it
        if tick != due:
            logger.warning(
                "beat publishes %s tick %r, left pending by a failed or dead leader, before %r",
                entry.name,
                tick,
                due,
            )
        job_id = tick_job_id(entry.name, tick)
        self.app.send_task(entry.task, entry.args, entry.kwargs, task_id=job_id, **entry.options)
        state.finish_beat_tick(entry.name, tick)
        logger.info("beat fired %s tick %r as job %s", entry.name, tick, job_id)
        self._record_run(entry, tick, job_id)
        return job_id

    def _record_run(self, entry: Entry, tick: float, job_id: str) -> None:
        if not isinstance(self.source, RecordsRuns):
            return
        try:
            self.source.fired(entry, tick, job_id)
        except Exception as exc:
            # The tick is done and must not fire again: a lost last-run
            # time is the lesser harm.
            logger.warning("beat fired %s but could not record it: %s", entry.name, exc)

    def entries(self) -> list[Entry]:
        """Every entry, its crontab (if it names no zone) on the app's ``timezone``."""
        zone = self.app.settings.timezone
        return [_in_zone(e, zone) for e in self.source.entries() + self.builtin]

    def run(self) -> None:
        renew = self.app.settings.beat_lock_ttl / 3
        next_renew = 0.0
        while not self.stop.is_set():
            if not self._loop_backoff.waiting():
                try:
                    if time.monotonic() >= next_renew or not self.is_leader():
                        self._lead()
                        next_renew = time.monotonic() + renew
                    if self.is_leader():
                        self.tick()
                    self._loop_backoff.succeeded()
                except Exception as exc:
                    # The store, or the schedule's source (a database), failed:
                    # nothing can fire now, and nothing is lost by waiting.
                    delay = self._loop_backoff.failed()
                    if self.app.state.owns_error(exc):
                        logger.warning(
                            "beat %s: state store error: %s; retry in %gs", self.name, exc, delay
                        )
                    else:
                        logger.error(
                            "beat %s: cannot go through the schedule: %s; retry in %gs",
                            self.name,
                            exc,
                            delay,
                            exc_info=True,
                        )
            self.stop.wait(LOOP_INTERVAL)
        if self.is_leader():  # hand over at once instead of after the TTL
            try:
                self.app.state.release_beat_lock(self.token)
            except Exception as exc:
                if not self.app.state.owns_error(exc):
                    raise
                logger.warning("beat %s: lock not released (%s); it expires", self.name, exc)


def _in_zone(entry: Entry, zone: str) -> Entry:
    schedule = entry.schedule
    if isinstance(schedule, Crontab) and schedule.tz is None:
        return replace(entry, schedule=schedule.in_timezone(zone))
    return entry


def run_beat(app: TaskQueue, name: str | None = None) -> int:
    beat = Beat(app, name=name)
    s = app.settings
    if s.beat_metrics_port:
        from .worker.metrics import BeatMetrics

        beat.metrics = BeatMetrics(beat).serve(s.control_host, s.beat_metrics_port)
    signal.signal(signal.SIGTERM, lambda *_: beat.stop.set())
    signal.signal(signal.SIGINT, lambda *_: beat.stop.set())
    print(f"taskqueue beat {beat.name}: {len(beat.entries())} entries", flush=True)
    print("ready", flush=True)
    beat.run()
    if beat.metrics is not None:
        beat.metrics.stop()
    return 0
