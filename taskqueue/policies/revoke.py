"""Revocations: a revoked job never starts anywhere; with terminate, a running one stops.

``AsyncResult(id).revoke(terminate=False)`` and ``app.control.revoke(id)``
do three things, all idempotent:

1. store a final REVOKED state (Redis) and result document (Mongo) unless
   the job is final already (``taskqueue.control.revoke.mark_revoked``);
   every worker refuses to run a job whose state is final when its record
   arrives, whether from its queue or, later, from a delay tier;
2. add the id to the sorted set ``<key_prefix>:revoked`` (score: when the
   revocation expires, ``revoke_ttl`` after it was made);
3. publish it on ``<key_prefix>:revocations``.

Each worker keeps the set in memory (loaded when it subscribes, so nothing
published while it was away is missed) and checks it right before a body
starts, free of any round trip: a job revoked while it waits in the pool's
queue does not start either. On ``terminate=True`` the worker running the
job raises :class:`TaskRevokedError` in its thread (the control plane's
``terminate``); the attempt ends REVOKED. A process-pool child is not
interrupted (Python cannot reach into it from here): its result is
discarded, because the final REVOKED state is never replaced.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING

import redis

from ..control import terminate as killer

if TYPE_CHECKING:
    from ..app import TaskQueue

logger = logging.getLogger("taskqueue.revoke")


class Revocations:
    """Publishing side (any process) and the worker's in-memory copy."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        prefix = app.settings.key_prefix
        self.set_key = f"{prefix}:revoked"
        self.channel = f"{prefix}:revocations"
        self._ids: dict[str, float] = {}  # id -> expiry (epoch)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- publishing ---------------------------------------------------------
    def revoke(self, job_id: str, terminate: bool = False, reason: str = "") -> bool:
        """Revoke ``job_id``; True if it is revoked now or was before (not if it finished)."""
        from ..control.revoke import mark_revoked

        revoked, detail = mark_revoked(self.app, job_id, reason or "revoked")
        if not revoked:
            logger.info("job %s not revoked: %s", job_id, detail)
            return False
        client = self.app.state_backend.client
        expires = time.time() + self.app.settings.revoke_ttl
        pipe = client.pipeline(transaction=False)
        pipe.zadd(self.set_key, {job_id: expires})
        pipe.zremrangebyscore(self.set_key, "-inf", time.time())
        pipe.expire(self.set_key, self.app.settings.revoke_ttl)
        pipe.publish(self.channel, json.dumps({"id": job_id, "terminate": terminate}))
        pipe.execute()
        logger.warning("job %s revoked (%s, terminate=%s)", job_id, detail, terminate)
        return True

    # --- the worker's copy -----------------------------------------------------
    def is_revoked(self, job_id: str) -> bool:
        if not self._ids:
            return False
        with self._lock:
            expiry = self._ids.get(job_id)
        return expiry is not None and expiry > time.time()

    def start(self) -> Revocations:
        """Follow revocations in a background thread (the worker calls this)."""
        self._thread = threading.Thread(target=self._run, name="taskqueue-revoke", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except redis.RedisError as exc:
                logger.warning("revocation feed lost (%s); reconnecting", exc)
                self._stop.wait(0.5)

    def _listen(self) -> None:
        client = redis.Redis.from_url(self.app.settings.redis_url, socket_connect_timeout=5)
        pubsub = client.pubsub()
        pubsub.subscribe(self.channel)
        try:
            # Subscribed first, loaded second: a revocation published in
            # between is in the set or arrives as a message, never neither.
            self._load(client)
            while not self._stop.is_set():
                item = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if item and item["type"] == "message":
                    self._apply(item["data"])
        finally:
            pubsub.close()
            client.close()

    def _load(self, client: redis.Redis) -> None:
        now = time.time()
        entries = client.zrangebyscore(self.set_key, now, "+inf", withscores=True)
        with self._lock:
            self._ids = {k.decode(): float(score) for k, score in entries}  # type: ignore[union-attr,str-unpack]

    def _apply(self, data: bytes) -> None:
        try:
            event = json.loads(data)
            job_id = str(event["id"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self._ids[job_id] = time.time() + self.app.settings.revoke_ttl
        if event.get("terminate") and killer.terminate(job_id):
            logger.warning("job %s terminated by a revoke", job_id)


class Control:
    """``app.control``: Celery's remote-control entry points that need no reply."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app

    def revoke(
        self, job_id: str | list[str], terminate: bool = False, reason: str = ""
    ) -> list[str]:
        """Revoke one or several jobs; returns the ids revoked (now or before)."""
        ids = [job_id] if isinstance(job_id, str) else list(job_id)
        return [i for i in ids if self.app.revocations.revoke(i, terminate, reason)]

    def rate_limit(self, task: str, rate: str) -> None:
        """Override ``task``'s rate limit on every worker (``""`` = back to the declared one)."""
        from .ratelimit import set_override

        set_override(self.app, task, rate)
