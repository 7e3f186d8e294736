"""The state store on Redis: a hash per job, a TTL, a pub/sub event per change.

Every job-state write goes through one Lua script that compares the stored
state and attempt with the new ones (the precedence rule), so redelivered
messages and late events never regress a final or newer state, whatever
order the writes arrive in; the worker sends a whole batch in one call.
The key layout is in :mod:`.state_keys`, the scripts in
:mod:`.state_redis_scripts`. This module is the only one in the framework
that holds a Redis client.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import redis

from . import state_redis_scripts as lua
from .state import (
    AsyncEventStream,
    RevocationNotice,
    StateStore,
    StateStoreUnavailable,
    StateUpdate,
    Subscription,
    WorkerHeartbeat,
    WriteAnswer,
    parse_beat_record,
)
from .state_keys import StateKeys

T = TypeVar("T")

SUBSCRIBE_TIMEOUT = 10.0
"""Longest wait for Redis to confirm a subscription before giving up."""


class RedisStateStore(StateStore):
    """One instance per app and process; the connection pool is created lazily."""

    service = "Redis"

    def __init__(self, url: str, key_prefix: str, ttl: int) -> None:
        self.url = url
        self.prefix = key_prefix
        self.ttl = ttl
        self.keys = StateKeys(key_prefix)
        self.events_channel = self.keys.events
        self._client: redis.Redis | None = None
        self._client_lock = threading.Lock()
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<RedisStateStore {self.prefix!r}>"

    @property
    def client(self) -> redis.Redis:
        """The shared client (tests use it to look at raw keys)."""
        if self._client is None:
            # Under a lock: two threads creating clients at once would each
            # keep one, and the pool of the one dropped closes its sockets
            # under the other's feet.
            with self._client_lock:
                if self._client is None:
                    self._scripts = {}
                    self._client = redis.Redis.from_url(
                        self.url,
                        socket_connect_timeout=5,
                        # Commands never hang on a server that stopped answering
                        # (the pub/sub connections have their own, blocking, clients).
                        socket_timeout=30,
                        health_check_interval=30,
                    )
        return self._client

    def _script(self, source: str) -> Any:
        client = self.client
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return script

    def job_key(self, job_id: str) -> str:
        return self.keys.job(job_id)

    # --- job state ------------------------------------------------------------
    def write_batch(
        self, updates: Sequence[StateUpdate], publish: bool = True, lease: float = 0.0
    ) -> list[WriteAnswer]:
        if not updates:
            return []
        batch = json.dumps([_entry(u) for u in updates], separators=(",", ":"))
        result = self._script(lua.SET_STATES)(
            keys=[self.keys.job(u.job_id) for u in updates],
            args=[
                self.events_channel if publish else "",
                self.ttl,
                repr(time.time()),
                batch,
                repr(lease),
            ],
        )
        return [(int(code), _text(prev), _text(attempt)) for code, prev, attempt in result]

    def renew_leases(self, job_ids: Sequence[str], owner: str, lease: float) -> None:
        if job_ids:
            keys = [self.keys.job(i) for i in job_ids]
            self._script(lua.SET_LEASES)(keys=keys, args=[owner, repr(max(lease, 0.001))])

    def release_leases(self, job_ids: Sequence[str], owner: str) -> None:
        if job_ids:
            keys = [self.keys.job(i) for i in job_ids]
            self._script(lua.SET_LEASES)(keys=keys, args=[owner, "0"])

    def read(self, job_id: str) -> dict[str, str]:
        return self.read_many([job_id])[0]

    def read_many(self, job_ids: Iterable[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for i in job_ids:
            pipe.hgetall(self.keys.job(i))
        return [_decode(_record(h, {})) for h in pipe.execute(raise_on_error=False)]

    def read_states(self, job_ids: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for start in range(0, len(job_ids), 5000):  # bounded pipelines
            pipe = self.client.pipeline(transaction=False)
            for i in job_ids[start : start + 5000]:
                pipe.hget(self.keys.job(i), "state")
            states = [_record(s, None) for s in pipe.execute(raise_on_error=False)]
            out += [None if s is None else _text(s) for s in states]
        return out

    def forget(self, job_id: str) -> None:
        self.client.delete(self.keys.job(job_id))

    # --- events ---------------------------------------------------------------
    def subscribe_events(self) -> Subscription[bytes]:
        return _RedisSubscription(self.url, self.events_channel, bytes)

    async def open_event_stream(self) -> AsyncEventStream:
        stream = _RedisEventStream(self.url, self.events_channel)
        await stream.open()
        return stream

    # --- worker heartbeats ------------------------------------------------------
    def announce_worker(self, name: str, heartbeat: WorkerHeartbeat, ttl: float) -> None:
        # The set indexes names so listing never scans the keyspace.
        key = self.keys.worker(name)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=heartbeat.fields())  # type: ignore[arg-type]
        pipe.expire(key, max(1, int(ttl)))
        pipe.sadd(self.keys.workers, name)
        pipe.execute()

    def live_workers(self) -> dict[str, dict[str, str]]:
        """Names whose heartbeat expired are pruned from the index here."""
        names = sorted(_text(n) for n in self.client.smembers(self.keys.workers))  # type: ignore[union-attr]
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys.worker(name))
        out, dead = {}, []
        for name, raw in zip(names, pipe.execute(), strict=True):
            if raw:
                out[name] = _decode(raw)
            else:
                dead.append(name)
        if dead:
            self.client.srem(self.keys.workers, *dead)
        return out

    def remove_worker(self, name: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self.keys.worker(name))
        pipe.srem(self.keys.workers, name)
        pipe.execute()

    # --- revocations ------------------------------------------------------------
    def add_revocation(self, job_id: str, terminate: bool, ttl: float) -> None:
        now = time.time()
        key = self.keys.revoked
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(key, {job_id: now + ttl}, gt=True)  # a shorter revoke keeps the longer
        pipe.zremrangebyscore(key, "-inf", now)
        # The set lives as long as its longest entry: set when it has no
        # expiry (new), raised when this one is longer, never lowered.
        pipe.expire(key, max(1, int(ttl)), nx=True)
        pipe.expire(key, max(1, int(ttl)), gt=True)
        pipe.publish(self.keys.revocations, RevocationNotice(job_id, terminate, ttl).encode())
        pipe.execute()

    def remember_due(self, job_id: str, due: float, ttl: float) -> None:
        self.client.set(self.keys.due(job_id), repr(due), ex=max(1, int(ttl)))

    def due_of(self, job_id: str) -> float | None:
        value = self.client.get(self.keys.due(job_id))
        return None if value is None else float(value)  # type: ignore[arg-type]

    def keep_state(self, job_id: str, ttl: float) -> None:
        self.client.expire(self.keys.job(job_id), max(1, int(ttl)), gt=True)

    def active_revocations(self) -> dict[str, float]:
        entries = self.client.zrangebyscore(self.keys.revoked, time.time(), "+inf", withscores=True)
        return {_text(k): float(score) for k, score in entries}  # type: ignore[union-attr,str-unpack,arg-type]

    def subscribe_revocations(self) -> Subscription[RevocationNotice]:
        return _RedisSubscription(self.url, self.keys.revocations, RevocationNotice.decode)

    # --- rate limits --------------------------------------------------------------
    def take_tokens(self, requests: Sequence[tuple[str, float]]) -> list[float]:
        if not requests:
            return []
        script = self._script(lua.TAKE_TOKEN)
        pipe = self.client.pipeline(transaction=False)
        for task, rate in requests:
            script(
                keys=[self.keys.rate_bucket(task), self.keys.rate_overrides],
                args=[task, rate or 0],
                client=pipe,
            )
        return [float(w) for w in pipe.execute()]

    def set_rate_override(self, task: str, per_second: float | None) -> None:
        if per_second is None:
            self.client.hdel(self.keys.rate_overrides, task)
        else:
            self.client.hset(self.keys.rate_overrides, task, repr(per_second))

    def rate_overrides(self) -> dict[str, float]:
        raw = self.client.hgetall(self.keys.rate_overrides)
        return {_text(k): float(v) for k, v in raw.items()}  # type: ignore[union-attr]

    # --- idempotency claims --------------------------------------------------------
    def count_child_death(self, job_id: str, attempt: int, ttl: float) -> int:
        name = self.keys.child_deaths(job_id, attempt)
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, max(1, int(ttl)))
        count, _ = pipe.execute()
        return int(count)

    def claim_idempotency(self, key: str, job_id: str, ttl: float) -> str | None:
        name = self.keys.idempotency(key)
        while True:
            if self.client.set(name, job_id, nx=True, ex=max(1, int(ttl))):
                return None
            existing = self.client.get(name)
            if existing is not None:  # else it expired in between: try again
                return _text(existing)  # type: ignore[arg-type]

    def release_idempotency(self, key: str, job_id: str) -> bool:
        return bool(
            self._script(lua.DELETE_IF_OWNED)(keys=[self.keys.idempotency(key)], args=[job_id])
        )

    def replace_idempotency(self, key: str, holder: str, job_id: str, ttl: float) -> bool:
        script = self._script(lua.REPLACE_IF_OWNED)
        name = self.keys.idempotency(key)
        return bool(script(keys=[name], args=[holder, job_id, str(max(1, int(ttl)))]))

    # --- chords ---------------------------------------------------------------------
    def chord_member_done(
        self, chord_id: str, index: int, result_json: str, size: int, ttl: float
    ) -> list[str] | None:
        out = self._script(lua.CHORD_MEMBER_DONE)(
            keys=[self.keys.chord(chord_id)],
            args=[str(index), result_json, str(size), str(int(ttl))],
        )
        return [_text(x) for x in out] if out else None

    # --- beat ---------------------------------------------------------------------------
    def acquire_beat_lock(self, token: str, ttl: float) -> bool:
        return bool(self.client.set(self.keys.beat_leader, token, nx=True, px=_ms(ttl)))

    def renew_beat_lock(self, token: str, ttl: float) -> bool:
        script = self._script(lua.EXTEND_IF_OWNED)
        return bool(script(keys=[self.keys.beat_leader], args=[token, _ms(ttl)]))

    def release_beat_lock(self, token: str) -> None:
        self._script(lua.DELETE_IF_OWNED)(keys=[self.keys.beat_leader], args=[token])

    def claim_beat_tick(self, entry: str, tick: float, owner: str, lease: float) -> float | None:
        claimed = self._script(lua.CLAIM_BEAT_TICK)(
            keys=[self.keys.beat_last(entry)], args=[repr(tick), owner, _ms(lease)]
        )
        return None if claimed is None else float(claimed)

    def finish_beat_tick(self, entry: str, tick: float) -> None:
        self._script(lua.FINISH_BEAT_TICK)(keys=[self.keys.beat_last(entry)], args=[repr(tick)])

    def beat_last_tick(self, entry: str) -> float | None:
        raw = self.client.get(self.keys.beat_last(entry))
        return parse_beat_record(None if raw is None else _text(raw))[1]

    # --- lifecycle -------------------------------------------------------------------------
    def ping(self) -> None:
        self.client.ping()

    def owns_error(self, exc: BaseException) -> bool:
        return isinstance(exc, (redis.RedisError, StateStoreUnavailable))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class _RedisSubscription(Subscription[T], Generic[T]):
    """One pub/sub connection on one channel; subscribed once constructed."""

    def __init__(self, url: str, channel: str, convert: Callable[[bytes], T | None]) -> None:
        self._where = f"{channel} at {url}"
        self._convert = convert
        self._client = redis.Redis.from_url(url, socket_connect_timeout=5)
        self._pubsub = self._client.pubsub()
        try:
            self._pubsub.subscribe(channel)
            deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
            while True:
                item = self._pubsub.get_message(timeout=0.5)
                if item is not None and item["type"] == "subscribe":
                    break
                if time.monotonic() > deadline:
                    raise StateStoreUnavailable(f"no subscription to {self._where}")
        except redis.RedisError as exc:
            self.close()
            raise StateStoreUnavailable(f"cannot subscribe to {self._where}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def get(self, timeout: float) -> T | None:
        try:
            item = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except redis.RedisError as exc:
            raise StateStoreUnavailable(f"subscription to {self._where} lost: {exc}") from exc
        if item is None or item["type"] != "message":
            return None
        return self._convert(item["data"])

    def close(self) -> None:
        try:
            self._pubsub.close()
        finally:
            self._client.close()


class _RedisEventStream(AsyncEventStream):
    def __init__(self, url: str, channel: str) -> None:
        import redis.asyncio as aioredis

        self._channel = channel
        self._client = aioredis.Redis.from_url(url, socket_connect_timeout=5)
        self._pubsub = self._client.pubsub()

    async def open(self) -> None:
        await self._pubsub.subscribe(self._channel)
        while True:
            item = await self._pubsub.get_message(timeout=None)
            if item is not None and item["type"] == "subscribe":
                return

    async def __aiter__(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        async for item in self._pubsub.listen():
            if item.get("type") == "message":
                yield item["data"]

    async def aclose(self) -> None:
        try:
            await self._pubsub.aclose()
        finally:
            await self._client.aclose()


def _entry(update: StateUpdate) -> list[str]:
    """An update as the SET_STATES script reads it."""
    return [
        update.state,
        str(update.attempt),
        update.task,
        update.queue,
        update.worker,
        update.payload_json(),
        update.traceback or "",
        update.job_id,
    ]


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _record(answer: Any, absent: Any) -> Any:
    """A pipelined read of one job's hash; ``absent`` when its key holds
    another type (a key this store never wrote: the job has no state, and
    ``SET_STATES`` replaces it). Any other error is the store's: raised."""
    if isinstance(answer, redis.ResponseError) and str(answer).startswith("WRONGTYPE"):
        return absent
    if isinstance(answer, Exception):
        raise answer
    return answer


def _decode(raw: Any) -> dict[str, str]:
    """A hash as returned by redis-py (bytes keys and values) as text."""
    return {k.decode(): v.decode() for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
