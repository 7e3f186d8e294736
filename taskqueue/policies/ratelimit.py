"""Rate limits shared by all workers: ``@app.task(rate_limit="100/m")``.

One token bucket per task in Redis (hash ``<key_prefix>:rate:<task>``),
refilled at the limit's rate, holding at most one second's worth of tokens
(at least one), taken by a Lua script so concurrent workers never take the
same token. Time is Redis's own clock (``TIME``), so workers' clocks do not
matter.

The worker's poll loop asks for tokens for a whole batch in one pipeline.
A job without a token is not held anywhere in memory and blocks nothing:
it goes back through the delay tiers with an eta when the next token is
expected (at most ``MAX_RECHECK`` seconds away, so a limit raised at run
time is noticed soon) and its record is acked once the tier has it. Other
tasks, and other partitions, keep flowing.

A limit can be overridden on every worker at run time with
``app.control.rate_limit(task, "10/s")`` (hash ``<key_prefix>:ratelimits``;
``""`` restores the declared one). Overrides apply to tasks that declare a
``rate_limit``. The per-worker limits of the control plane's SetRateLimit
(``taskqueue.control.ratelimit``) apply on top, in the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..control.ratelimit import parse_rate
from ..middleware import Middleware

if TYPE_CHECKING:
    from ..app import TaskQueue

MAX_RECHECK = 5.0
"""Longest a rate-limited job waits in the delay tiers before asking again."""

# KEYS[1] bucket hash, KEYS[2] overrides hash. ARGV[1] task, ARGV[2] declared
# rate (tokens/s). Returns '0' when a token was taken, else seconds to wait.
_TAKE = """
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


class RateLimitPolicy(Middleware):
    """Owns the ``rate_limit`` task option (``"N/s"``, ``"N/m"``, ``"N/h"``)."""

    options = frozenset({"rate_limit"})


class RateLimiter:
    """The worker loop's side: take tokens for a batch of jobs."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        self.prefix = app.settings.key_prefix
        self._rates: dict[str, float | None] = {}
        self._script: Any = None

    def rate_of(self, task_name: str) -> float | None:
        """Declared tokens/s of a task (None: not limited). Cached: options are fixed."""
        if task_name not in self._rates:
            task = self.app.tasks.get(task_name)
            text = task.options.get("rate_limit") if task else None
            self._rates[task_name] = parse_rate(str(text)) if text else None
        return self._rates[task_name]

    def take(self, task_names: list[str]) -> list[float]:
        """Seconds each job must wait (0 = go), one round trip for all."""
        client = self.app.state_backend.client
        if self._script is None:
            self._script = client.register_script(_TAKE)
        pipe = client.pipeline(transaction=False)
        for name in task_names:
            self._script(
                keys=[f"{self.prefix}:rate:{name}", f"{self.prefix}:ratelimits"],
                args=[name, self.rate_of(name) or 0],
                client=pipe,
            )
        return [float(w) for w in pipe.execute()]


def set_override(app: TaskQueue, task: str, rate: str) -> None:
    """Set (or with ``""`` clear) the shared run-time limit of ``task``."""
    key = f"{app.settings.key_prefix}:ratelimits"
    per_second = parse_rate(rate)
    if per_second is None:
        app.state_backend.client.hdel(key, task)
    else:
        app.state_backend.client.hset(key, task, repr(per_second))
