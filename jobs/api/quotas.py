"""Per-person submission quotas: jobs per minute, and jobs unfinished at once.

Both are settings (0 turns one off):

- ``JOBS_SUBMISSIONS_PER_MINUTE``: jobs a person may submit in one calendar
  minute (a bulk of n counts n; a retry counts 1). Counted in Redis, so the
  limit holds across every web process: one Lua script increments the
  person's counter for this minute only if the new total stays within the
  limit, and sets its expiry, in one round trip. A fixed window: a burst may
  straddle two minutes, so up to twice the limit can pass in 60 s at worst.
- ``JOBS_MAX_UNFINISHED``: jobs of one person not yet in a final state,
  counted in the database (the system of record) before the Redis step. Two
  submissions racing may both pass; the limit is a brake, not an invariant.

A refusal is a top-level GraphQL error, ``extensions.code = QUOTA_EXCEEDED``,
that names the setting and its value, and says when to retry
(``retryAfter`` seconds and ``retryAt`` for the per-minute limit; for the
unfinished-jobs limit, once a job ends). Nothing is created then.

If Redis does not answer, the per-minute limit is not enforced (logged): a
cache outage must not stop all submissions, and the unfinished-jobs limit,
kept in the database, still bounds what one person can queue.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings
from graphql import GraphQLError

from jobs.models import Job
from jobs.services import MAX_BULK
from jobs.taskapp import get_app
from taskqueue.states import READY_STATES

logger = logging.getLogger("jobs.quotas")

DEFAULT_SUBMISSIONS_PER_MINUTE = 120
DEFAULT_MAX_UNFINISHED = 1_000

WINDOW_SECONDS = 60

clock = time.time
"""The wall clock that picks the minute (replaceable, so tests need not race it)."""

_TAKE = """
local taken = redis.call('GET', KEYS[1])
taken = tonumber(taken) or 0
local want = tonumber(ARGV[1])
if taken + want > tonumber(ARGV[2]) then
  return {0, taken}
end
taken = redis.call('INCRBY', KEYS[1], want)
if taken == want then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return {1, taken}
"""
"""KEYS[1]: the counter of this person and minute. ARGV: jobs wanted, limit,
counter TTL. Returns ``{admitted, count}``; a refusal takes nothing, so a
client that retries too early is not pushed further back."""

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _script(url: str) -> Any:
    """One client (its connection pool) and registered script per Redis URL."""
    with _lock:
        found = _clients.get(url)
        if found is None:
            client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
            found = _clients[url] = client.register_script(_TAKE)
        return found


class QuotaExceeded(GraphQLError):
    """A submission over one of the limits above."""

    def __init__(self, setting: str, limit: int, message: str, retry_after: int | None) -> None:
        extensions: dict[str, Any] = {
            "code": "QUOTA_EXCEEDED",
            "quota": setting,
            "limit": limit,
            "retryAfter": retry_after,
        }
        if retry_after is not None:
            at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_after)
            extensions["retryAt"] = at.replace(microsecond=0).isoformat()
        super().__init__(message, extensions=extensions)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def admit(user: Any, jobs: int = 1) -> None:
    """Raise :class:`QuotaExceeded` unless ``user`` may submit ``jobs`` more now;
    when admitted, they count against this minute's quota.

    A bulk outside 1..MAX_BULK is left to the submission's own validation
    (which refuses it), so a malformed request costs no quota.
    """
    if not 1 <= jobs <= MAX_BULK:
        return
    _check_unfinished(user, jobs)
    _take_from_minute(user, jobs)


def _check_unfinished(user: Any, jobs: int) -> None:
    limit = _setting("JOBS_MAX_UNFINISHED", DEFAULT_MAX_UNFINISHED)
    if not limit:
        return
    unfinished = (
        Job.objects.filter(owner=user).exclude(state__in=[s.value for s in READY_STATES]).count()
    )
    if unfinished + jobs > limit:
        raise QuotaExceeded(
            "JOBS_MAX_UNFINISHED",
            limit,
            f"you have {unfinished} unfinished jobs and the limit is {limit} "
            f"(JOBS_MAX_UNFINISHED); submit again once some have finished, "
            f"or cancel some",
            retry_after=None,
        )


def _take_from_minute(user: Any, jobs: int) -> None:
    limit = _setting("JOBS_SUBMISSIONS_PER_MINUTE", DEFAULT_SUBMISSIONS_PER_MINUTE)
    if not limit:
        return
    now = clock()
    minute = int(now // WINDOW_SECONDS)
    # The app's key prefix: the quota lives beside the jobs' own state.
    key = f"{get_app().settings.key_prefix}:quota:submissions:{user.pk}:{minute}"
    try:
        admitted, taken = _script(settings.REDIS_URL)(
            keys=[key], args=[jobs, limit, WINDOW_SECONDS * 2]
        )
    except redis.RedisError as exc:
        logger.warning("submission quota not enforced, Redis did not answer: %s", exc)
        return
    if not admitted:
        retry_after = max(1, int((minute + 1) * WINDOW_SECONDS - now + 0.999))
        raise QuotaExceeded(
            "JOBS_SUBMISSIONS_PER_MINUTE",
            limit,
            f"{int(taken)} of your {limit} submissions this minute are used and "
            f"this request asks for {jobs} (JOBS_SUBMISSIONS_PER_MINUTE); "
            f"retry in {retry_after} s",
            retry_after=retry_after,
        )
