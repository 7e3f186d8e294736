"""Progress of held jobs, read from the state store's event channel.

Tasks report progress by writing the state store (``Task.progress`` ->
Redis), from a pool thread or from a child process. Every applied write is
published on ``<key_prefix>:events`` in store order, so one subscription in
the worker process sees each held job's progress, in order, whichever pool
ran it. Events of jobs other workers hold are skipped after a substring
look at their id, before any JSON parsing: a busy cluster's event stream
costs each worker little.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis

from .inflight import InFlight

logger = logging.getLogger("taskqueue.control")

_ID_PREFIX = '{"id":"'


def _job_id(raw: bytes) -> str | None:
    """The id at the start of an event (the Lua script writes it first)."""
    text = raw.decode(errors="replace")
    if not text.startswith(_ID_PREFIX):
        return None
    end = text.find('"', len(_ID_PREFIX))
    return text[len(_ID_PREFIX) : end] if end > 0 else None


class EventFeed:
    """A daemon thread applying the events of held jobs to an :class:`InFlight`."""

    def __init__(self, redis_url: str, channel: str, inflight: InFlight) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.inflight = inflight
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="taskqueue-control-feed", daemon=True
        )
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._listen()
                delay = 0.1
            except Exception as exc:
                self.ready.clear()
                logger.warning("job event feed lost (%s); resubscribing in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _listen(self) -> None:
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            self.ready.set()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is None or message.get("type") != "message":
                    continue
                self._apply(message["data"])
        finally:
            pubsub.close()
            client.close()

    def _apply(self, raw: bytes) -> None:
        job_id = _job_id(raw)
        if job_id is None or self.inflight.get_state(job_id) is None:
            return
        try:
            event = json.loads(raw)
            self.inflight.update(
                job_id,
                str(event["state"]),
                int(event["attempt"]),
                event.get("payload"),
                float(event.get("ts") or time.time()),
            )
        except (ValueError, KeyError, TypeError) as exc:
            logger.debug("unreadable job event %r: %s", raw[:200], exc)
