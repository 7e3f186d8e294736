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
``P:workers``   set of worker names (pruned when their hash has expired)
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

# One call applies a whole batch. KEYS: the job hashes. ARGV: 1 channel
# ('' = no events), 2 ttl, 3 now, 4 a JSON array with one entry per key:
# [state, attempt, task, queue, worker, payload JSON, traceback, job id]
# ('' = field not set). Packing one JSON argument instead of a dozen per
# update is what makes a batch of state writes cheap for the worker; the
# event is built here for the same reason.
_SET_STATES = f"""
local ranks = {_RANKS}
local names = {{[3]='task', [4]='queue', [5]='worker', [6]='payload', [7]='traceback'}}
local updates = cjson.decode(ARGV[4])
local out = {{}}
for i, u in ipairs(updates) do
  local key, state, attempt = KEYS[i], u[1], tonumber(u[2])
  local cur = redis.call('HMGET', key, 'state', 'attempt')
  local code = {APPLIED}
  if cur[1] then
    local crank = ranks[cur[1]] or 3
    local cattempt = tonumber(cur[2]) or 0
    if crank == {_FINAL_RANK} or attempt < cattempt then
      code = {SUPERSEDED}
    elseif attempt == cattempt and ((ranks[state] or 3) < crank
        or (state == cur[1] and state ~= 'PROGRESS')) then
      -- Lower rank, or the same state again (only PROGRESS repeats): a
      -- duplicate STARTED/RECEIVED would be published twice otherwise.
      code = {OUTRANKED}
    end
  end
  if code == {APPLIED} then
    local f = {{'state', state, 'attempt', u[2], 'updated_at', ARGV[3]}}
    for j = 3, 7 do
      if u[j] ~= '' then f[#f + 1] = names[j]; f[#f + 1] = u[j] end
    end
    redis.call('HSET', key, unpack(f))
    redis.call('EXPIRE', key, ARGV[2])
    if ARGV[1] ~= '' then
      local payload = u[6]
      if payload == '' then payload = 'null' end
      redis.call('PUBLISH', ARGV[1], '{{"id":' .. cjson.encode(u[8]) .. ',"state":' ..
        cjson.encode(state) .. ',"attempt":' .. u[2] .. ',"task":' .. cjson.encode(u[3]) ..
        ',"ts":' .. ARGV[3] .. ',"payload":' .. payload .. '}}')
    end
  end
  out[i] = {{code, cur[1] or '', cur[2] or ''}}
end
return out
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

    def entry(self) -> list[str]:
        payload = ""
        if self.payload is not None or self.state in READY_STATES:
            payload = json.dumps(self.payload, default=repr, separators=(",", ":"))
        return [
            self.state,
            str(self.attempt),
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
            self._script = self._client.register_script(_SET_STATES)
        return self._client

    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def write(self, update: StateUpdate, publish: bool = True) -> tuple[int, str, str]:
        """Apply one update now (tasks' progress); see :meth:`write_batch`."""
        return self.write_batch([update], publish)[0]

    def write_batch(
        self, updates: Sequence[StateUpdate], publish: bool = True
    ) -> list[tuple[int, str, str]]:
        """Apply many updates in one round trip, in order.

        Returns, per update: (code, previous state, previous attempt);
        previous values are '' when the job had no stored state.
        """
        if not updates:
            return []
        self.client  # noqa: B018 - creates the client and registers the script
        batch = json.dumps([u.entry() for u in updates], separators=(",", ":"))
        result = self._script(
            keys=[self.job_key(u.job_id) for u in updates],
            args=[self.events_channel if publish else "", self.ttl, repr(time.time()), batch],
        )
        return [(int(code), _text(prev), _text(attempt)) for code, prev, attempt in result]

    def read(self, job_id: str) -> dict[str, str]:
        return _decode(self.client.hgetall(self.job_key(job_id)))

    def forget(self, job_id: str) -> None:
        self.client.delete(self.job_key(job_id))

    def heartbeat(self, name: str, info: dict[str, Any], ttl: float) -> None:
        """Announce a live worker: its hash expires unless renewed; the set
        ``P:workers`` indexes names so listing never scans the keyspace."""
        key = f"{self.prefix}:worker:{name}"
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping={k: str(v) for k, v in info.items()})
        pipe.expire(key, max(1, int(ttl)))
        pipe.sadd(f"{self.prefix}:workers", name)
        pipe.execute()

    def workers(self) -> dict[str, dict[str, str]]:
        """Live workers by name; names whose heartbeat expired are pruned."""
        index = f"{self.prefix}:workers"
        names = sorted(_text(n) for n in self.client.smembers(index))  # type: ignore[union-attr]
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(f"{self.prefix}:worker:{name}")
        out, dead = {}, []
        for name, raw in zip(names, pipe.execute(), strict=True):
            if raw:
                out[name] = _decode(raw)
            else:
                dead.append(name)
        if dead:
            self.client.srem(index, *dead)
        return out

    def remove_worker(self, name: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(f"{self.prefix}:worker:{name}")
        pipe.srem(f"{self.prefix}:workers", name)
        pipe.execute()

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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
