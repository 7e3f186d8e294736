"""The Lua scripts of the Redis state store.

Each one makes a read-compare-write atomic inside Redis, so concurrent
workers, clients and beat processes never race on the same record.
"""

from __future__ import annotations

from ..states import PRECEDENCE, State
from .state import APPLIED, LEASED, OUTRANKED, SUPERSEDED

_RANKS = "{" + ",".join(f"{s.value}={r}" for s, r in PRECEDENCE.items()) + "}"
_FINAL_RANK = PRECEDENCE[State.SUCCESS]

# One call applies a whole batch. KEYS: the job hashes. ARGV: 1 channel
# ('' = no events), 2 ttl, 3 now, 4 a JSON array with one entry per key:
# [state, attempt, task, queue, worker, payload JSON, traceback, job id]
# ('' = field not set). Packing one JSON argument instead of a dozen per
# update is what makes a batch of state writes cheap for the worker; the
# event is built here for the same reason (state.encode_event is its twin).
SET_STATES = f"""
local ranks = {_RANKS}
local names = {{[3]='task', [4]='queue', [5]='worker', [6]='payload', [7]='traceback'}}
local updates = cjson.decode(ARGV[4])
local lease = tonumber(ARGV[5]) or 0
local now = 0
if lease > 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local out = {{}}
for i, u in ipairs(updates) do
  local key, state, attempt = KEYS[i], u[1], tonumber(u[2])
  local cur = redis.pcall('HMGET', key, 'state', 'attempt', 'owner', 'lease')
  if cur.err then
    -- Not a hash (WRONGTYPE): not a record this store wrote, and no state
    -- to keep. Replaced, so one foreign key cannot fail a whole batch.
    redis.call('DEL', key)
    cur = {{false, false, false, false}}
  end
  local taking = lease > 0 and state == 'RECEIVED' and u[5] ~= ''
  local code = {APPLIED}
  if cur[1] then
    local crank = ranks[cur[1]] or 3
    local cattempt = tonumber(cur[2]) or 0
    -- Final, older, or an attempt that ended in RETRY (its next attempt
    -- is already published: running a copy again would publish another).
    if crank == {_FINAL_RANK} or attempt < cattempt
        or (cur[1] == 'RETRY' and attempt == cattempt) then
      code = {SUPERSEDED}
    elseif attempt == cattempt and ((ranks[state] or 3) < crank
        or (state == cur[1] and state ~= 'PROGRESS')) then
      -- Lower rank, or the same state again (only PROGRESS repeats): a
      -- duplicate STARTED/RECEIVED would be published twice otherwise.
      code = {OUTRANKED}
    end
    -- Another worker owns this very attempt and is alive: the copy waits.
    if code ~= {SUPERSEDED} and taking and attempt == cattempt and cur[3]
        and cur[3] ~= u[5] and (tonumber(cur[4]) or 0) > now then
      code = {LEASED}
    end
  end
  if taking and (code == {APPLIED} or code == {OUTRANKED}) then
    -- This worker runs the attempt now (a copy after the owner's lease
    -- ended takes it over, though its state stays the higher one).
    redis.call('HSET', key, 'owner', u[5], 'lease', tostring(now + lease))
    redis.call('EXPIRE', key, ARGV[2])
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

# KEYS: job hashes. ARGV[1] owner, ARGV[2] lease seconds (0: end the lease).
# Only the owner's own leases change; time is Redis's own clock.
SET_LEASES = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local lease = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'owner') == ARGV[1] then
    local until_ = 0
    if lease > 0 then until_ = now + lease end
    redis.call('HSET', key, 'lease', tostring(until_))
  end
end
return 0
"""

# KEYS[1] bucket hash, KEYS[2] overrides hash. ARGV[1] task, ARGV[2] declared
# rate (tokens/s). Returns '0' when a token was taken, else seconds to wait.
# Time is Redis's own clock, so workers' clocks do not matter.
TAKE_TOKEN = """
local rate = tonumber(ARGV[2])
local override = redis.call('HGET', KEYS[2], ARGV[1])
if override then rate = tonumber(override) end
if not rate or rate <= 0 then return '0' end
local capacity = math.max(1, rate)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(b[1]) or capacity
local stamp = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""

# Delete a key only if it still holds our value (another owner may hold it now).
DELETE_IF_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Replace a claim's value and TTL only while it holds ARGV[1].
# ARGV[2]: the new value; ARGV[3]: its TTL in seconds.
REPLACE_IF_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# Extend a lock only while we hold it. ARGV[2]: new TTL in milliseconds.
EXTEND_IF_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] member results hash. ARGV: index, result JSON, size, ttl. Returns
# every member's result, in order, once all are in (else nothing): to the
# member that completed the chord and to any copy of a member run again,
# which republishes the callback under its fixed id (the same job).
CHORD_MEMBER_DONE = """
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local size = tonumber(ARGV[3])
if redis.call('HLEN', KEYS[1]) < size then return {} end
local out = {}
for i = 0, size - 1 do out[#out + 1] = redis.call('HGET', KEYS[1], tostring(i)) end
return out
"""

# A beat entry's record (state.pending_beat_record and parse_beat_record are
# the Python twins): the last done tick, or
# 'pending|<tick>|<lease end, ms>|<last done tick or empty>|<owner>'.
# KEYS[1] the record. ARGV: 1 tick, 2 owner, 3 lease in ms. Returns the tick
# the caller must publish (a pending one it holds or whose lease expired,
# else ARGV[1] if newer than the done tick), or false. The lease runs on
# Redis's clock, so beat processes' clocks do not matter.
CLAIM_BEAT_TICK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tick, done = ARGV[1], ''
local record = redis.call('GET', KEYS[1])
if record then
  local ptick, lease_end, pdone, owner =
    string.match(record, '^pending|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if ptick then
    if owner ~= ARGV[2] and tonumber(lease_end) > now then return false end
    tick, done = ptick, pdone
  elseif tonumber(record) then
    if tonumber(record) >= tonumber(tick) then return false end
    done = record
  end
end
local lease_end = string.format('%d', now + tonumber(ARGV[3]))
redis.call('SET', KEYS[1], 'pending|' .. tick .. '|' .. lease_end .. '|' .. done .. '|' .. ARGV[2])
return tick
"""

# KEYS[1] the record, ARGV[1] the published tick: done, unless a newer tick
# is recorded already (a late finisher never moves the entry back).
FINISH_BEAT_TICK = """
local record = redis.call('GET', KEYS[1])
if record then
  local current = tonumber(string.match(record, '^pending|([^|]*)|') or record)
  if current and current > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
