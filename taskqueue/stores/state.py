"""The StateStore seam: everything the framework keeps in its fast shared store.

Live job state lives in one record per job with a TTL, written under the
precedence rule (``states.may_replace``): a final state is never replaced,
an older attempt never overwrites a newer one, and within an attempt the
state only moves up in rank (only PROGRESS repeats). Every applied write is
published as one event, in store order. The answer of a batch write is also
the redelivery check: SUPERSEDED means the job is final (or newer) already.

Beside job state the store holds the small shared structures workers and
clients coordinate through: worker heartbeats, revocations, rate-limit token
buckets and their run-time overrides, idempotency claims, chord counters and
beat's leader lock and tick claims.

Two implementations behave the same: :class:`~.state_redis.RedisStateStore`
(``redis://``) and :class:`~.state_memory.MemoryStateStore` (``memory://``,
for tests that run without services). :func:`create_state_store` picks one
from the URL.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from ..states import READY_STATES

APPLIED = 0
"""The write was stored."""
SUPERSEDED = 1
"""Rejected: the stored state is final or belongs to a newer attempt."""
OUTRANKED = 2
"""Rejected: same attempt, stored state ranks higher, or the same state again
(only PROGRESS repeats)."""
LEASED = 3
"""Rejected RECEIVED: another worker owns this attempt and its owner lease
is alive (it is running it, or about to): this copy must wait."""

WriteAnswer = tuple[int, str, str]
"""Per update: (code, previous state, previous attempt); '' when nothing was stored."""

T = TypeVar("T")


class StateStoreUnavailable(ConnectionError):
    """A subscription to the state store was lost or could not be made.

    A ConnectionError, not a TaskQueueError: like the store's other failures
    it means a service is down, not that the caller did something wrong."""


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """One state change of one job, as the worker or a task reports it."""

    job_id: str
    state: str
    attempt: int
    task: str = ""
    queue: str = ""
    payload: Any = None
    traceback: str | None = None
    worker: str = ""

    def payload_json(self) -> str:
        """The payload as stored ('' = leave the stored one): final states always
        store one (``null`` included), so a result never shows an old progress."""
        if self.payload is not None or self.state in READY_STATES:
            return json.dumps(self.payload, default=repr, separators=(",", ":"))
        return ""


def encode_event(update: StateUpdate, ts: str) -> bytes:
    """The event published for an applied write (the Redis script builds the
    same text itself, for speed; the contract tests hold the two together).

    The id comes first so a reader can skip other jobs' events without
    parsing them (:func:`event_job_id`)."""
    payload = update.payload_json() or "null"
    return (
        f'{{"id":{json.dumps(update.job_id)},"state":{json.dumps(update.state)},'
        f'"attempt":{update.attempt},"task":{json.dumps(update.task)},'
        f'"ts":{ts},"payload":{payload}}}'
    ).encode()


_ID_PREFIX = b'{"id":"'


def event_job_id(raw: bytes) -> str | None:
    """The job id at the start of an event, found without parsing the JSON."""
    if not raw.startswith(_ID_PREFIX):
        return None
    end = raw.find(b'"', len(_ID_PREFIX))
    return raw[len(_ID_PREFIX) : end].decode(errors="replace") if end > 0 else None


@dataclass(frozen=True, slots=True)
class RevocationNotice:
    """A revocation as the feed delivers it to every worker."""

    job_id: str
    terminate: bool = False
    ttl: float = 0.0
    """Seconds the revocation lasts (0: ``revoke_ttl``, as notices of older versions)."""

    def encode(self) -> bytes:
        return json.dumps(
            {"id": self.job_id, "terminate": self.terminate, "ttl": self.ttl}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> RevocationNotice | None:
        try:
            event = json.loads(raw)
            ttl = float(event.get("ttl") or 0.0)
            return cls(str(event["id"]), bool(event.get("terminate")), ttl if ttl > 0 else 0.0)
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    """The fields a live worker announces (the only place they are named).

    The worker loop and the control plane announce different fields of the
    same record; fields left None are not written, so neither erases the
    other's."""

    hostname: str | None = None
    pid: int | None = None
    queues: str | None = None
    pool: str | None = None
    concurrency: int | None = None
    started_at: float | None = None
    last_seen: float | None = None
    active: int | None = None
    processed: int | None = None
    grpc: str | None = None
    """Address of the worker's gRPC control service."""
    problem: str | None = None
    """Why the worker is unhealthy (a store it needs is down); empty when healthy."""
    control_seen: float | None = None

    def fields(self) -> dict[str, str]:
        """The stored form: text values, unset fields left out."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_mapping(cls, info: Mapping[str, Any]) -> WorkerHeartbeat:
        known = {f.name for f in fields(cls)}
        unknown = set(info) - known
        if unknown:
            raise ValueError(f"unknown heartbeat field(s): {', '.join(sorted(unknown))}")
        return cls(**dict(info))


class Subscription(ABC, Generic[T]):
    """A live feed from the store; it is subscribed when it is returned, so
    anything read from the store afterwards cannot miss an item in between."""

    @abstractmethod
    def get(self, timeout: float) -> T | None:
        """The next item, or None after ``timeout`` seconds without one.
        Raises :class:`StateStoreUnavailable` when the feed is lost."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream(ABC):
    """The event feed for asyncio code: ``async for raw in stream``."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    @abstractmethod
    async def aclose(self) -> None: ...


class StateStore(ABC):
    """Live job state and the cluster's shared coordination records."""

    url: str
    prefix: str
    ttl: int
    service = "state store"
    """Name of the backing service in operator messages."""

    # --- job state ------------------------------------------------------------
    @abstractmethod
    def write_batch(
        self, updates: Sequence[StateUpdate], publish: bool = True, lease: float = 0.0
    ) -> list[WriteAnswer]:
        """Apply many updates in order, atomically each, in one round trip.

        Each is checked against what is stored (including earlier updates of
        the same batch); applied ones refresh the record's TTL and, with
        ``publish``, emit one event each.

        With ``lease`` (seconds), a RECEIVED update is the worker in its
        ``worker`` field taking the attempt: it becomes the record's owner for
        that long (renewed by :meth:`renew_leases`), unless another owner's
        lease on the same attempt is alive, which answers LEASED. The clock
        is the store's own, so workers' clocks do not matter."""

    def write(self, update: StateUpdate, publish: bool = True) -> WriteAnswer:
        """Apply one update now (a task's progress); see :meth:`write_batch`."""
        return self.write_batch([update], publish)[0]

    @abstractmethod
    def renew_leases(self, job_ids: Sequence[str], owner: str, lease: float) -> None:
        """Extend ``owner``'s leases on these jobs to ``lease`` seconds from now
        (jobs another worker owns now are left alone)."""

    @abstractmethod
    def release_leases(self, job_ids: Sequence[str], owner: str) -> None:
        """End ``owner``'s leases on these jobs: it will not run them."""

    @abstractmethod
    def read(self, job_id: str) -> dict[str, str]:
        """The stored record of a job ({} when none): state, attempt, task,
        queue, payload (JSON), traceback, worker, updated_at."""

    @abstractmethod
    def read_many(self, job_ids: Iterable[str]) -> list[dict[str, str]]:
        """Records of many jobs, in order, in one round trip."""

    def iter_ids(self, job_ids: Iterable[str]) -> list[dict[str, str]]:
        """Same as :meth:`read_many` (the older name)."""
        return self.read_many(job_ids)

    @abstractmethod
    def read_states(self, job_ids: Sequence[str]) -> list[str | None]:
        """Only the state of each job (cheapest way to count finished jobs)."""

    @abstractmethod
    def forget(self, job_id: str) -> None: ...

    # --- events ---------------------------------------------------------------
    @abstractmethod
    def subscribe_events(self) -> Subscription[bytes]:
        """Follow every applied write's event (JSON, see :func:`encode_event`)."""

    @abstractmethod
    async def open_event_stream(self) -> AsyncEventStream:
        """:meth:`subscribe_events` for asyncio code; subscribed on return."""

    # --- worker heartbeats ------------------------------------------------------
    @abstractmethod
    def announce_worker(self, name: str, heartbeat: WorkerHeartbeat, ttl: float) -> None:
        """Add or refresh a live worker; it disappears unless renewed within ``ttl``."""

    @abstractmethod
    def live_workers(self) -> dict[str, dict[str, str]]:
        """Live workers by name, with their heartbeat fields."""

    @abstractmethod
    def remove_worker(self, name: str) -> None: ...

    def heartbeat(self, name: str, info: Mapping[str, Any], ttl: float) -> None:
        """:meth:`announce_worker` from a mapping of :class:`WorkerHeartbeat` fields."""
        self.announce_worker(name, WorkerHeartbeat.from_mapping(info), ttl)

    def workers(self) -> dict[str, dict[str, str]]:
        """Same as :meth:`live_workers` (the older name)."""
        return self.live_workers()

    # --- revocations ------------------------------------------------------------
    @abstractmethod
    def add_revocation(self, job_id: str, terminate: bool, ttl: float) -> None:
        """Remember ``job_id`` as revoked for ``ttl`` seconds and tell every
        follower. A shorter revocation made later never shortens this one."""

    @abstractmethod
    def remember_due(self, job_id: str, due: float, ttl: float) -> None:
        """Note that ``job_id`` is due at ``due`` (epoch), for ``ttl`` seconds:
        a revoke made before then must outlive it (see ``policies.revoke``)."""

    @abstractmethod
    def due_of(self, job_id: str) -> float | None:
        """When ``job_id`` is due, if :meth:`remember_due` noted it."""

    @abstractmethod
    def keep_state(self, job_id: str, ttl: float) -> None:
        """Keep ``job_id``'s state at least ``ttl`` more seconds (never shortens it)."""

    @abstractmethod
    def active_revocations(self) -> dict[str, float]:
        """Revoked ids that have not expired, with their expiry (epoch seconds)."""

    @abstractmethod
    def subscribe_revocations(self) -> Subscription[RevocationNotice]: ...

    # --- rate limits --------------------------------------------------------------
    @abstractmethod
    def take_tokens(self, requests: Sequence[tuple[str, float]]) -> list[float]:
        """One token for each (task, declared tokens/s); per request, the seconds
        to wait (0: taken). A run-time override replaces the declared rate; a
        rate of 0 means unlimited. Buckets hold one second's worth (at least 1)."""

    @abstractmethod
    def set_rate_override(self, task: str, per_second: float | None) -> None:
        """Override ``task``'s rate on every worker (None: back to the declared one)."""

    @abstractmethod
    def rate_overrides(self) -> dict[str, float]:
        """Every run-time override, tokens per second by task name."""

    # --- process-pool child deaths ----------------------------------------------------
    @abstractmethod
    def count_child_death(self, job_id: str, attempt: int, ttl: float) -> int:
        """Count one more pool child that died running this attempt of the job;
        the count so far. Shared, so a redelivery to another worker goes on
        counting; forgotten ``ttl`` seconds after the last death."""

    # --- idempotency claims --------------------------------------------------------
    @abstractmethod
    def claim_idempotency(self, key: str, job_id: str, ttl: float) -> str | None:
        """Claim ``key`` for ``job_id``; None if claimed now, else the holder's id."""

    @abstractmethod
    def release_idempotency(self, key: str, job_id: str) -> bool:
        """Free ``key`` if ``job_id`` still holds it; whether it did."""

    @abstractmethod
    def replace_idempotency(self, key: str, holder: str, job_id: str, ttl: float) -> bool:
        """If ``holder`` still holds ``key``, make ``job_id`` hold it for
        ``ttl`` seconds; whether it did (a pending claim confirmed)."""

    # --- chords ---------------------------------------------------------------------
    @abstractmethod
    def chord_member_done(
        self, chord_id: str, index: int, result_json: str, size: int, ttl: float
    ) -> list[str] | None:
        """Record member ``index``'s result (first write wins). The results of
        all members, in order, once every member is recorded (to the member
        that completed the chord, and to a copy of any member that runs
        again); None while some are missing. Nothing marks the callback as
        sent: a member that crashed before its callback was in Kafka sends
        it when it runs again, and the callback's fixed id makes a second
        copy the same job."""

    # --- beat ---------------------------------------------------------------------------
    @abstractmethod
    def acquire_beat_lock(self, token: str, ttl: float) -> bool:
        """Take the leader lock if nobody holds it."""

    @abstractmethod
    def renew_beat_lock(self, token: str, ttl: float) -> bool:
        """Extend the lock if ``token`` still holds it."""

    @abstractmethod
    def release_beat_lock(self, token: str) -> None:
        """Drop the lock if ``token`` holds it (hand over at once)."""

    # One record per entry holds its last done tick, or a pending claim (tick,
    # owner, lease expiry, and the last done tick before it). Ticks only move
    # forward, so a done tick is never claimed again, and a pending one goes
    # out before any newer tick of its entry.
    @abstractmethod
    def claim_beat_tick(self, entry: str, tick: float, owner: str, lease: float) -> float | None:
        """Claim a tick of ``entry`` as pending for ``owner``, for ``lease`` seconds
        (measured on the store's clock); the tick the caller must now publish,
        then pass to :meth:`finish_beat_tick`:

        - a pending tick (older than ``tick`` or equal) that ``owner`` holds,
          or whose lease expired: that one, re-leased to ``owner``;
        - else ``tick``, if it is newer than the last done tick.

        None while another owner's lease runs, or when ``tick`` is done already."""

    @abstractmethod
    def finish_beat_tick(self, entry: str, tick: float) -> None:
        """Mark ``tick`` done (published) and the entry's last tick; a no-op when a
        newer tick is recorded already, so a late finisher never moves it back."""

    @abstractmethod
    def beat_last_tick(self, entry: str) -> float | None:
        """The entry's last done tick (a pending claim does not count)."""

    def set_beat_last_tick(self, entry: str, tick: float) -> None:
        """Record ``tick`` as done (:meth:`finish_beat_tick`'s older name)."""
        self.finish_beat_tick(entry, tick)

    # --- lifecycle -------------------------------------------------------------------------
    def ping(self) -> None:  # noqa: B027 - the in-process store is always there
        """One round trip to the store; raises if it does not answer."""

    def owns_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` means this store failed (unreachable, refused)."""
        return isinstance(exc, StateStoreUnavailable)

    def close(self) -> None:  # noqa: B027 - a store without connections has nothing to do
        """Release connections (reopened on next use)."""


def pending_beat_record(tick: float, until_ms: int, done: float | None, owner: str) -> str:
    """A beat entry's record while ``tick`` is claimed (CLAIM_BEAT_TICK builds
    the same string in Redis): ``pending|<tick>|<lease end, ms>|<done>|<owner>``."""
    return f"pending|{tick!r}|{until_ms}|{'' if done is None else repr(done)}|{owner}"


def parse_beat_record(raw: str | None) -> tuple[tuple[float, int, str] | None, float | None]:
    """((pending tick, lease end in ms, owner) or None, last done tick or None)
    of a beat entry's record: :func:`pending_beat_record`'s string, or the
    done tick alone (what beat always stored before); anything else reads
    as nothing recorded."""
    if raw is None:
        return None, None
    if raw.startswith("pending|"):
        _, tick, until, done, owner = raw.split("|", 4)
        return (float(tick), int(until), owner), float(done) if done else None
    try:
        return None, float(raw)
    except ValueError:
        return None, None


def create_state_store(url: str, key_prefix: str, ttl: int) -> StateStore:
    """The store for ``url``: ``memory://...`` or a Redis URL."""
    if url.startswith("memory://"):
        from .state_memory import shared_memory_store

        return shared_memory_store(url, key_prefix, ttl)
    from .state_redis import RedisStateStore

    return RedisStateStore(url, key_prefix, ttl)
