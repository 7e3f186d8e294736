"""Live job state in Redis: a hash per job, a TTL, a pub/sub event per change.

Every write goes through one Lua script that compares the stored state and
attempt with the new ones (the precedence rule of ``states.may_replace``) so
redelivered messages and late events never regress a final or newer state,
whatever order the writes arrive in. The worker sends a whole batch of
writes in one pipeline.

Layout (``P`` is ``key_prefix``):
``P:job:<id>``  hash: state, attempt, task, queue, payload (JSON), traceback,
                worker, updated_at
``P:events``    channel: one JSON event per applied change
``P:worker:<name>``  heartbeat hash of a live worker, with a short TTL
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from ..states import PRECEDENCE, READY_STATES, State

APPLIED = 0
"""The write was stored."""
SUPERSEDED = 1
"""Rejected: the stored state is final or belongs to a newer attempt."""
OUTRANKED = 2
"""Rejected: same attempt, stored state ranks higher (e.g. a re-sent RECEIVED)."""

_RANKS = "{" + ",".join(f"{s.value}={r}" for s, r in PRECEDENCE.items()) + "}"
_FINAL_RANK = PRECEDENCE[State.SUCCESS]

# ARGV: 1 channel ('' = no event), 2 state, 3 attempt, 4 ttl, 5 now, 6 task,
# 7 queue, 8 worker, 9 payload JSON, 10 traceback, 11 job id ('' = unset).
# The event is built here, not in Python: fewer, fixed arguments per call
# keep the worker's per-batch pipeline cheap to pack.
_SET_STATE = f"""
local ranks = {_RANKS}
local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt')
local attempt = tonumber(ARGV[3])
if cur[1] then
  local crank = ranks[cur[1]] or 3
  if crank == {_FINAL_RANK} then return {{{SUPERSEDED}, cur[1]}} end
  local cattempt = tonumber(cur[2]) or 0
  if attempt < cattempt then return {{{SUPERSEDED}, cur[1]}} end
  if attempt == cattempt and (ranks[ARGV[2]] or 3) < crank then
    return {{{OUTRANKED}, cur[1]}}
  end
end
local f = {{'state', ARGV[2], 'attempt', ARGV[3], 'updated_at', ARGV[5]}}
local names = {{[6]='task', [7]='queue', [8]='worker', [9]='payload', [10]='traceback'}}
for i = 6, 10 do
  if ARGV[i] ~= '' then f[#f + 1] = names[i]; f[#f + 1] = ARGV[i] end
end
redis.call('HSET', KEYS[1], unpack(f))
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[1] ~= '' then
  local payload = ARGV[9]
  if payload == '' then payload = 'null' end
  redis.call('PUBLISH', ARGV[1], '{{"id":' .. cjson.encode(ARGV[11]) .. ',"state":' ..
    cjson.encode(ARGV[2]) .. ',"attempt":' .. ARGV[3] .. ',"task":' .. cjson.encode(ARGV[6]) ..
    ',"ts":' .. ARGV[5] .. ',"payload":' .. payload .. '}}')
end
return {{{APPLIED}, cur[1] or ''}}
"""


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

    def args(self, channel: str, ttl: int, now: str) -> list[Any]:
        payload = ""
        if self.payload is not None or self.state in READY_STATES:
            payload = json.dumps(self.payload, default=repr, separators=(",", ":"))
        return [
            channel,
            self.state,
            self.attempt,
            ttl,
            now,
            self.task,
            self.queue,
            self.worker,
            payload,
            self.traceback or "",
            self.job_id,
        ]


class RedisStateBackend:
    """Job state store; one instance per app and process (connections are lazy)."""

    def __init__(self, url: str, key_prefix: str, ttl: int) -> None:
        self.url = url
        self.prefix = key_prefix
        self.ttl = ttl
        self.events_channel = f"{key_prefix}:events"
        self._client: redis.Redis | None = None
        self._script: Any = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=5, health_check_interval=30
            )
            self._script = self._client.register_script(_SET_STATE)
        return self._client

    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _args(self, u: StateUpdate, now: str, publish: bool) -> list[Any]:
        return u.args(self.events_channel if publish else "", self.ttl, now)

    def write(self, update: StateUpdate, publish: bool = True) -> tuple[int, str]:
        """Apply one update now (used by tasks for progress); returns (code, previous)."""
        self.client  # noqa: B018 - ensures the script is registered
        code, prev = self._script(
            keys=[self.job_key(update.job_id)], args=self._args(update, repr(time.time()), publish)
        )
        return int(code), prev.decode() if isinstance(prev, bytes) else prev

    def write_batch(
        self, updates: Sequence[StateUpdate], publish: bool = True
    ) -> list[tuple[int, str]]:
        """Apply many updates in one round trip, in order."""
        if not updates:
            return []
        client = self.client
        pipe = client.pipeline(transaction=False)
        now = repr(time.time())
        for u in updates:
            self._script(
                keys=[self.job_key(u.job_id)], args=self._args(u, now, publish), client=pipe
            )
        out = []
        for code, prev in pipe.execute():
            out.append((int(code), prev.decode() if isinstance(prev, bytes) else prev))
        return out

    def read(self, job_id: str) -> dict[str, str]:
        return _decode(self.client.hgetall(self.job_key(job_id)))

    def forget(self, job_id: str) -> None:
        self.client.delete(self.job_key(job_id))

    def heartbeat(self, name: str, info: dict[str, Any], ttl: float) -> None:
        key = f"{self.prefix}:worker:{name}"
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping={k: str(v) for k, v in info.items()})
        pipe.expire(key, max(1, int(ttl)))
        pipe.execute()

    def workers(self) -> dict[str, dict[str, str]]:
        out = {}
        for key in self.client.scan_iter(f"{self.prefix}:worker:*"):
            name = key.decode().split(":worker:", 1)[1]
            out[name] = _decode(self.client.hgetall(key))
        return out

    def remove_worker(self, name: str) -> None:
        self.client.delete(f"{self.prefix}:worker:{name}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def iter_ids(self, ids: Iterable[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(self.job_key(i))
        return [_decode(h) for h in pipe.execute()]


def _decode(raw: Any) -> dict[str, str]:
    """A hash as returned by redis-py (bytes keys and values) as text."""
    return {k.decode(): v.decode() for k, v in raw.items()}
