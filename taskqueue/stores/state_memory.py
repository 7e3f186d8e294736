"""The state store in process memory, with the same behaviour as Redis's.

For tests that run without services (``redis_url="memory://"``): the
precedence rule, TTLs measured on a clock, events delivered to every
subscriber in this process, token buckets, NX claims and expiring locks.
One lock guards everything, so each method is atomic like a Lua script.

Apps of one process that name the same URL and key prefix share one store
(:func:`shared_memory_store`), so a test's client app and its worker app see
the same state. Other processes (a process pool's children) do not: use the
thread pool with it.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Generic, TypeVar

from ..states import PRECEDENCE, State
from .state import (
    APPLIED,
    LEASED,
    OUTRANKED,
    SUPERSEDED,
    AsyncEventStream,
    RevocationNotice,
    StateStore,
    StateStoreUnavailable,
    StateUpdate,
    Subscription,
    WorkerHeartbeat,
    WriteAnswer,
    encode_event,
    parse_beat_record,
    pending_beat_record,
)

T = TypeVar("T")

_RANKS = {s.value: r for s, r in PRECEDENCE.items()}
_FINAL_RANK = PRECEDENCE[State.SUCCESS]
_CUSTOM_RANK = PRECEDENCE[State.PROGRESS]
"""Rank of a state the table does not know (a task's own ``update_state``)."""


class _Expiring(Generic[T]):
    """A dict whose entries may carry an expiry time on the store's clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._data: dict[str, tuple[T, float | None]] = {}

    def get(self, key: str) -> T | None:
        slot = self._data.get(key)
        if slot is None:
            return None
        if slot[1] is not None and slot[1] <= self._clock():
            del self._data[key]
            return None
        return slot[0]

    def put(self, key: str, value: T, ttl: float | None = None) -> None:
        self._data[key] = (value, None if ttl is None else self._clock() + ttl)

    def put_nx(self, key: str, value: T, ttl: float | None = None) -> bool:
        if self.get(key) is not None:
            return False
        self.put(key, value, ttl)
        return True

    def expire(self, key: str, ttl: float) -> None:
        slot = self._data.get(key)
        if slot is not None:
            self._data[key] = (slot[0], self._clock() + ttl)

    def extend(self, key: str, ttl: float) -> None:
        """Expire ``key`` in ``ttl`` seconds unless it would live longer anyway."""
        slot = self._data.get(key)
        if slot is not None and slot[1] is not None:
            self._data[key] = (slot[0], max(slot[1], self._clock() + ttl))

    def keys(self) -> list[str]:
        return list(self._data)

    def pop(self, key: str) -> T | None:
        value = self.get(key)
        self._data.pop(key, None)
        return value


class _Channel(Generic[T]):
    """In-process pub/sub: each subscriber has its own queue, filled in publish order."""

    def __init__(self) -> None:
        self.subscribers: set[Callable[[T], None]] = set()

    def publish(self, item: T) -> None:
        for deliver in list(self.subscribers):
            deliver(item)


class MemoryStateStore(StateStore):
    """Thread-safe; ``clock`` (epoch seconds) drives every TTL and token bucket."""

    service = "memory state store"

    def __init__(
        self,
        url: str = "memory://",
        key_prefix: str = "taskqueue",
        ttl: int = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.prefix = key_prefix
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.RLock()
        self._jobs: _Expiring[dict[str, str]] = _Expiring(clock)
        self._workers: _Expiring[dict[str, str]] = _Expiring(clock)
        self._revoked: dict[str, float] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # task -> (tokens, stamp)
        self._overrides: dict[str, float] = {}
        self._strings: _Expiring[str] = _Expiring(clock)  # claims, locks, beat ticks
        self._chords: _Expiring[dict[int, str]] = _Expiring(clock)
        self._events: _Channel[bytes] = _Channel()
        self._revocations: _Channel[RevocationNotice] = _Channel()

    def __repr__(self) -> str:
        return f"<MemoryStateStore {self.url} {self.prefix!r}>"

    # --- job state ------------------------------------------------------------
    def write_batch(
        self, updates: Sequence[StateUpdate], publish: bool = True, lease: float = 0.0
    ) -> list[WriteAnswer]:
        out: list[WriteAnswer] = []
        with self._lock:
            clock = self.clock()
            now = repr(clock)
            for u in updates:
                current = self._jobs.get(u.job_id)
                prev_state = current.get("state", "") if current else ""
                prev_attempt = current.get("attempt", "") if current else ""
                code = _decide(prev_state, prev_attempt, u) if current else APPLIED
                taking = lease > 0 and u.state == State.RECEIVED.value and bool(u.worker)
                if current and taking and _leased_to_another(current, u, clock):
                    code = LEASED
                if taking and code in (APPLIED, OUTRANKED):
                    # This worker runs the attempt now (see the Redis script).
                    record = dict(current or {})
                    record.update(owner=u.worker, lease=repr(clock + lease))
                    self._jobs.put(u.job_id, record, self.ttl)
                    current = record
                if code == APPLIED:
                    record = dict(current or {})
                    record.update(state=u.state, attempt=str(u.attempt), updated_at=now)
                    payload = u.payload_json()
                    for name, value in (
                        ("task", u.task),
                        ("queue", u.queue),
                        ("worker", u.worker),
                        ("payload", payload),
                        ("traceback", u.traceback or ""),
                    ):
                        if value:
                            record[name] = value
                    self._jobs.put(u.job_id, record, self.ttl)
                    if publish:
                        self._events.publish(encode_event(u, now))
                out.append((code, prev_state, prev_attempt))
        return out

    def renew_leases(self, job_ids: Sequence[str], owner: str, lease: float) -> None:
        self._set_leases(job_ids, owner, self.clock() + max(lease, 0.001))

    def release_leases(self, job_ids: Sequence[str], owner: str) -> None:
        self._set_leases(job_ids, owner, 0.0)

    def _set_leases(self, job_ids: Sequence[str], owner: str, until: float) -> None:
        with self._lock:
            for job_id in job_ids:
                record = self._jobs.get(job_id)
                if record is not None and record.get("owner") == owner:
                    record["lease"] = repr(until)

    def read(self, job_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._jobs.get(job_id) or {})

    def read_many(self, job_ids: Iterable[str]) -> list[dict[str, str]]:
        with self._lock:
            return [dict(self._jobs.get(i) or {}) for i in job_ids]

    def read_states(self, job_ids: Sequence[str]) -> list[str | None]:
        with self._lock:
            return [(self._jobs.get(i) or {}).get("state") for i in job_ids]

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id)

    # --- events ---------------------------------------------------------------
    def subscribe_events(self) -> Subscription[bytes]:
        return _MemorySubscription(self._events, self._lock)

    async def open_event_stream(self) -> AsyncEventStream:
        return _MemoryEventStream(self._events, self._lock)

    # --- worker heartbeats ------------------------------------------------------
    def announce_worker(self, name: str, heartbeat: WorkerHeartbeat, ttl: float) -> None:
        with self._lock:
            record = dict(self._workers.get(name) or {})
            record.update(heartbeat.fields())
            self._workers.put(name, record, max(1, int(ttl)))

    def live_workers(self) -> dict[str, dict[str, str]]:
        with self._lock:
            names = sorted(self._workers.keys())
            return {n: dict(r) for n in names if (r := self._workers.get(n)) is not None}

    def remove_worker(self, name: str) -> None:
        with self._lock:
            self._workers.pop(name)

    # --- revocations ------------------------------------------------------------
    def add_revocation(self, job_id: str, terminate: bool, ttl: float) -> None:
        with self._lock:
            now = self.clock()
            self._revoked[job_id] = max(now + ttl, self._revoked.get(job_id, 0.0))
            self._revoked = {k: t for k, t in self._revoked.items() if t > now}
            self._revocations.publish(RevocationNotice(job_id, terminate, ttl))

    def remember_due(self, job_id: str, due: float, ttl: float) -> None:
        with self._lock:
            self._strings.put(f"due:{job_id}", repr(due), max(1, int(ttl)))

    def due_of(self, job_id: str) -> float | None:
        with self._lock:
            value = self._strings.get(f"due:{job_id}")
        return None if value is None else float(value)

    def keep_state(self, job_id: str, ttl: float) -> None:
        with self._lock:
            self._jobs.extend(job_id, max(1, int(ttl)))

    def active_revocations(self) -> dict[str, float]:
        with self._lock:
            now = self.clock()
            return {k: t for k, t in self._revoked.items() if t >= now}

    def subscribe_revocations(self) -> Subscription[RevocationNotice]:
        return _MemorySubscription(self._revocations, self._lock)

    # --- rate limits --------------------------------------------------------------
    def take_tokens(self, requests: Sequence[tuple[str, float]]) -> list[float]:
        waits = []
        with self._lock:
            for task, declared in requests:
                rate = self._overrides.get(task, declared or 0.0)
                if rate <= 0:
                    waits.append(0.0)
                    continue
                capacity = max(1.0, rate)
                now = self.clock()
                tokens, stamp = self._buckets.get(task, (capacity, now))
                if now - stamp > math.ceil(capacity / rate) + 60:
                    tokens = capacity  # the Redis bucket would have expired
                tokens = min(capacity, tokens + max(0.0, now - stamp) * rate)
                wait = 0.0
                if tokens >= 1:
                    tokens -= 1
                else:
                    wait = (1 - tokens) / rate
                self._buckets[task] = (tokens, now)
                waits.append(wait)
        return waits

    def set_rate_override(self, task: str, per_second: float | None) -> None:
        with self._lock:
            if per_second is None:
                self._overrides.pop(task, None)
            else:
                self._overrides[task] = per_second

    def rate_overrides(self) -> dict[str, float]:
        with self._lock:
            return dict(self._overrides)

    # --- idempotency claims --------------------------------------------------------
    def count_child_death(self, job_id: str, attempt: int, ttl: float) -> int:
        with self._lock:
            name = f"deaths:{job_id}:{attempt}"
            count = int(self._strings.get(name) or 0) + 1
            self._strings.put(name, str(count), max(1, int(ttl)))
            return count

    def claim_idempotency(self, key: str, job_id: str, ttl: float) -> str | None:
        with self._lock:
            name = f"idem:{key}"
            if self._strings.put_nx(name, job_id, max(1, int(ttl))):
                return None
            return self._strings.get(name)

    def release_idempotency(self, key: str, job_id: str) -> bool:
        return self._delete_if_owned(f"idem:{key}", job_id)

    def replace_idempotency(self, key: str, holder: str, job_id: str, ttl: float) -> bool:
        with self._lock:
            name = f"idem:{key}"
            if self._strings.get(name) != holder:
                return False
            self._strings.put(name, job_id, max(1, int(ttl)))
            return True

    # --- chords ---------------------------------------------------------------------
    def chord_member_done(
        self, chord_id: str, index: int, result_json: str, size: int, ttl: float
    ) -> list[str] | None:
        with self._lock:
            members = self._chords.get(chord_id)
            if members is None:
                members = {}
            members.setdefault(index, result_json)
            self._chords.put(chord_id, members, ttl)
            if len(members) < size:
                return None
            return [members[i] for i in range(size)]

    # --- beat ---------------------------------------------------------------------------
    def acquire_beat_lock(self, token: str, ttl: float) -> bool:
        with self._lock:
            return self._strings.put_nx("beat:leader", token, ttl)

    def renew_beat_lock(self, token: str, ttl: float) -> bool:
        with self._lock:
            if self._strings.get("beat:leader") != token:
                return False
            self._strings.expire("beat:leader", ttl)
            return True

    def release_beat_lock(self, token: str) -> None:
        self._delete_if_owned("beat:leader", token)

    # The entry's record is the string the Redis store keeps (see
    # state_redis_scripts.CLAIM_BEAT_TICK), so both parse and compare alike.
    def claim_beat_tick(self, entry: str, tick: float, owner: str, lease: float) -> float | None:
        with self._lock:
            key = f"beat:last:{entry}"
            now_ms = int(self.clock() * 1000)
            pending, done = parse_beat_record(self._strings.get(key))
            if pending is not None:
                pending_tick, until_ms, holder = pending
                if holder != owner and until_ms > now_ms:
                    return None
                tick = pending_tick
            elif done is not None and done >= tick:
                return None
            record = pending_beat_record(tick, now_ms + int(lease * 1000), done, owner)
            self._strings.put(key, record)
            return tick

    def finish_beat_tick(self, entry: str, tick: float) -> None:
        with self._lock:
            key = f"beat:last:{entry}"
            pending, done = parse_beat_record(self._strings.get(key))
            current = pending[0] if pending is not None else done
            if current is None or current <= tick:
                self._strings.put(key, repr(tick))

    def beat_last_tick(self, entry: str) -> float | None:
        with self._lock:
            return parse_beat_record(self._strings.get(f"beat:last:{entry}"))[1]

    def _delete_if_owned(self, name: str, owner: str) -> bool:
        with self._lock:
            if self._strings.get(name) != owner:
                return False
            self._strings.pop(name)
            return True


def _leased_to_another(record: dict[str, str], u: StateUpdate, now: float) -> bool:
    """Another worker owns ``u``'s attempt and its lease is alive (not for a
    final or newer record: the precedence rule answers those)."""
    if _decide(record.get("state", ""), record.get("attempt", ""), u) == SUPERSEDED:
        return False
    owner = record.get("owner")
    return (
        u.attempt == int(record.get("attempt") or 0)
        and bool(owner)
        and owner != u.worker
        and _seconds(record.get("lease")) > now
    )


def _seconds(value: str | None) -> float:
    """A stored number, or 0 for one this store did not write (as the Redis
    script's ``tonumber(...) or 0``)."""
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _decide(prev_state: str, prev_attempt: str, u: StateUpdate) -> int:
    """The precedence rule, exactly as the Redis script applies it."""
    rank = _RANKS.get(prev_state, _CUSTOM_RANK)
    attempt = int(prev_attempt or 0)
    if (
        rank == _FINAL_RANK
        or u.attempt < attempt
        or (prev_state == State.RETRY.value and u.attempt == attempt)
    ):
        return SUPERSEDED  # final, older, or an attempt that ended in RETRY
    if u.attempt == attempt and (
        _RANKS.get(u.state, _CUSTOM_RANK) < rank
        or (u.state == prev_state and u.state != State.PROGRESS.value)
    ):
        return OUTRANKED
    return APPLIED


class _MemorySubscription(Subscription[T], Generic[T]):
    def __init__(self, channel: _Channel[T], lock: threading.RLock) -> None:
        self._channel = channel
        self._lock = lock
        self._queue: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._closed = False
        with lock:
            channel.subscribers.add(self._queue.put)

    def get(self, timeout: float) -> T | None:
        if self._closed:
            raise StateStoreUnavailable("subscription closed")
        try:
            return self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._channel.subscribers.discard(self._queue.put)


class _MemoryEventStream(AsyncEventStream):
    """Events handed to the subscribing event loop, thread-safely, in order."""

    def __init__(self, channel: _Channel[bytes], lock: threading.RLock) -> None:
        self._channel = channel
        self._lock = lock
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        with lock:
            channel.subscribers.add(self._deliver)

    def _deliver(self, raw: bytes) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, raw)
        except RuntimeError:  # the loop is closed: nobody listens any more
            self._channel.subscribers.discard(self._deliver)

    async def __aiter__(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        while True:
            yield await self._queue.get()

    async def aclose(self) -> None:
        with self._lock:
            self._channel.subscribers.discard(self._deliver)


_shared: dict[tuple[str, str], MemoryStateStore] = {}
_shared_lock = threading.Lock()


def shared_memory_store(url: str, key_prefix: str, ttl: int) -> MemoryStateStore:
    """The process's store for this URL and prefix (created on first use)."""
    with _shared_lock:
        store = _shared.get((url, key_prefix))
        if store is None:
            store = _shared[(url, key_prefix)] = MemoryStateStore(url, key_prefix, ttl)
        return store


def forget_shared_memory_stores() -> None:
    """Drop every shared store (tests that want a clean slate)."""
    with _shared_lock:
        _shared.clear()
