"""Progress of held jobs, read from the state store's event channel.

Tasks report progress by writing the state store (``Task.progress``), from
a pool thread or from a child process. Every applied write is published as
one event in store order, so one subscription in
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

from ..stores.state import StateStore, event_job_id
from .inflight import InFlight

logger = logging.getLogger("taskqueue.control")


class EventFeed:
    """A daemon thread applying the events of held jobs to an :class:`InFlight`."""

    def __init__(self, store: StateStore, inflight: InFlight) -> None:
        self.store = store
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
        with self.store.subscribe_events() as events:
            self.ready.set()
            while not self._stop.is_set():
                raw = events.get(timeout=0.5)
                if raw is not None:
                    self._apply(raw)

    def _apply(self, raw: bytes) -> None:
        job_id = event_job_id(raw)
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
