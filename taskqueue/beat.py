"""Beat: periodic tasks, one leader among several beat processes.

``python -m taskqueue beat -A module`` reads the schedule from a
:class:`ScheduleSource` (by default :class:`CodeSchedule`, the app's
``beat_schedule`` dict; a database-backed source implements the same
``entries()`` method and is installed as ``app.beat_source``) and
publishes each entry's task when it is due::

    app.beat_schedule = {
        "refresh-rates": {"task": "rates.refresh", "schedule": 30.0},
        "nightly": {"task": "reports.daily", "schedule": crontab("0 3 * * *"), "args": [1]},
    }

Several beat processes may run. One is leader: it holds the state store's
beat lock (``StateStore.acquire_beat_lock``, ``beat_lock_ttl`` seconds,
renewed every third of it by a compare-and-extend). The others poll
for the lock; when a leader dies its lock expires and one of them takes
over, so failover takes at most ``beat_lock_ttl`` plus one poll (0.5 s).

No tick fires twice, even when an old leader and a new one overlap (a
paused process whose lock expired): ticks are aligned to the schedule
(interval ticks are multiples of the interval since the epoch, crontab
ticks are whole minutes), each firing first claims its (entry, tick) once
(``StateStore.claim_beat_tick``), and the job id is derived from the entry
name and tick (uuid5), so even a duplicate publish would be the same job.
The last fired tick is kept in the state store too; after a gap (no
leader), only the most recent missed tick fires, Celery's behaviour.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .app import TaskQueue

logger = logging.getLogger("taskqueue.beat")

_NAMESPACE = uuid.UUID("5b0a3c9e-1f8e-4c55-9a36-0d3f7d0e8a11")
"""Namespace of the job ids of beat ticks (uuid5 of entry name and tick)."""

TICK_CLAIM_TTL = 86_400
"""Seconds a tick's claim is kept: far longer than any two leaders overlap."""


class Crontab:
    """``crontab("*/15 9-17 * * 1-5")``: minute hour day-of-month month day-of-week (UTC)."""

    _RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))

    def __init__(self, expression: str) -> None:
        parts = expression.split()
        if len(parts) != 5:
            raise ConfigurationError(f"crontab {expression!r}: expected 5 fields")
        self.expression = expression
        self.fields = [
            _parse_field(p, lo, hi, expression)
            for p, (lo, hi) in zip(parts, self._RANGES, strict=True)
        ]

    def matches(self, t: float) -> bool:
        tm = time.gmtime(t)
        values = (tm.tm_min, tm.tm_hour, tm.tm_mday, tm.tm_mon, (tm.tm_wday + 1) % 7)
        return all(v in f for v, f in zip(values, self.fields, strict=True))

    def last_tick(self, now: float) -> float:
        """The latest matching whole minute at or before ``now`` (looks back 366 days)."""
        t = now - now % 60
        for _ in range(366 * 24 * 60):
            if self.matches(t):
                return t
            t -= 60
        return 0.0

    def __repr__(self) -> str:
        return f"crontab({self.expression!r})"


crontab = Crontab


def _parse_field(text: str, lo: int, hi: int, expression: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = end = int(base)
        if not (lo <= start <= end <= hi) or step < 1:
            raise ConfigurationError(f"crontab {expression!r}: {item!r} out of {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return values


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


class CodeSchedule:
    """Entries from the app's ``beat_schedule`` dict (Celery's format)."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app

    def entries(self) -> list[Entry]:
        schedule: dict[str, dict[str, Any]] = getattr(self.app, "beat_schedule", {}) or {}
        out = []
        for name, spec in schedule.items():
            every = spec["schedule"]
            if not isinstance(every, (Crontab, int, float)) or (
                not isinstance(every, Crontab) and every <= 0
            ):
                raise ConfigurationError(
                    f"beat entry {name!r}: schedule must be seconds > 0 or crontab"
                )
            out.append(
                Entry(
                    name,
                    spec["task"],
                    every,
                    tuple(spec.get("args", ())),
                    dict(spec.get("kwargs", {})),
                    dict(spec.get("options", {})),
                )
            )
        return out


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
        # An app may name its own source (Django: the jobs app's database).
        self.source = source or getattr(app, "beat_source", None) or CodeSchedule(app)
        self.builtin = builtin_entries(app)
        """Entries every app has (see :mod:`taskqueue.builtins`)."""
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.token = f"{self.name}:{uuid.uuid4().hex}"
        self.stop = threading.Event()
        self.leader_until = 0.0

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
        """Fire every due entry once; returns the job ids published."""
        now = time.time() if now is None else now
        state = self.app.state
        fired = []
        for entry in self.entries():
            due = entry.last_tick(now)
            last = state.beat_last_tick(entry.name)
            if last is not None and last >= due:
                continue
            if not state.claim_beat_tick(entry.name, due, self.name, TICK_CLAIM_TTL):
                continue  # another leader fired this tick
            job_id = str(uuid.uuid5(_NAMESPACE, f"{entry.name}@{due!r}"))
            self.app.send_task(
                entry.task, entry.args, entry.kwargs, task_id=job_id, **entry.options
            )
            state.set_beat_last_tick(entry.name, due)
            logger.info("beat fired %s tick %r as job %s", entry.name, due, job_id)
            fired.append(job_id)
        return fired

    def entries(self) -> list[Entry]:
        return self.source.entries() + self.builtin

    def run(self) -> None:
        renew = self.app.settings.beat_lock_ttl / 3
        next_renew = 0.0
        while not self.stop.is_set():
            if time.monotonic() >= next_renew or not self.is_leader():
                self._lead()
                next_renew = time.monotonic() + renew
            if self.is_leader():
                self.tick()
            self.stop.wait(0.5)
        if self.is_leader():  # hand over at once instead of after the TTL
            self.app.state.release_beat_lock(self.token)


def run_beat(app: TaskQueue, name: str | None = None) -> int:
    beat = Beat(app, name=name)
    signal.signal(signal.SIGTERM, lambda *_: beat.stop.set())
    signal.signal(signal.SIGINT, lambda *_: beat.stop.set())
    print(f"taskqueue beat {beat.name}: {len(beat.entries())} entries", flush=True)
    print("ready", flush=True)
    beat.run()
    return 0
