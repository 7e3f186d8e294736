"""One state-store subscription per ASGI process, fanned out to local subscribers.

Why not the Channels layer: the framework's state store already publishes
every applied state change as part of the write (on Redis, from inside its
Lua script), so per-job order is fixed by the store itself. Routing those
events through channel-layer groups would need a bridge that re-sends each
event, and channels-redis writes a group message once per member (N
subscribers, N Redis writes per event) while adding a hop that can reorder
nothing for the better. Here the cost per event is one
pub/sub delivery per process and an in-memory fan-out, whatever the number
of browsers. (The channel layer stays configured for anything that needs
process-to-process messages; nothing in live progress does.)

The hub's reader handles events one at a time, in arrival order: a job's
first event loads its row (once, in a thread) before anything later is
dispatched, so subscribers always see a job's events in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from jobs.models import Job
from jobs.taskapp import get_app
from progress.events import JobEvent
from progress.jobview import JobEntry
from progress.mailbox import Item, Mailbox
from taskqueue.stores.state import AsyncEventStream, StateStore

logger = logging.getLogger("progress.hub")

CACHE_SIZE = 5_000
"""Jobs whose row and live state the hub keeps (least recently used go first)."""

RECONNECT_DELAY = (0.1, 5.0)
"""First and longest wait before resubscribing after the state store was lost."""


class Subscriber:
    """One subscription's interest: a job id, or a filter on rows (all jobs)."""

    def __init__(
        self,
        job_id: str | None = None,
        accepts: Callable[[Job], bool] | None = None,
        size: int | None = None,
    ) -> None:
        self.job_id = job_id
        self.accepts = accepts
        self.mailbox = Mailbox(size) if size else Mailbox()


def _load_row(job_id: str) -> Job | None:
    try:
        return Job.objects.select_related("owner").filter(pk=job_id).first()
    except Exception:  # not a UUID: some other app's job on the same prefix
        return None


def _load(store: StateStore, job_id: str) -> tuple[Job | None, str | None]:
    """A job's row and, since events do not name it, the worker that runs it."""
    row = _load_row(job_id)
    worker = store.read(job_id).get("worker") if row is not None else None
    return row, worker


class EventHub:
    """Reads the store's job events and offers each to the subscribers it concerns."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.by_job: dict[str, set[Subscriber]] = {}
        self.wide: set[Subscriber] = set()
        self.entries: OrderedDict[str, JobEntry] = OrderedDict()
        self.events_seen = 0
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stream: AsyncEventStream | None = None

    # --- subscribers -----------------------------------------------------------
    async def add(self, subscriber: Subscriber) -> None:
        """Register ``subscriber``; returns once the store confirmed the subscription,
        so a snapshot read afterwards cannot miss an event in between."""
        if subscriber.job_id is not None:
            self.by_job.setdefault(subscriber.job_id, set()).add(subscriber)
        else:
            self.wide.add(subscriber)
        self._ensure_running()
        await self._subscribed.wait()

    def remove(self, subscriber: Subscriber) -> None:
        subscriber.mailbox.close()
        if subscriber.job_id is not None:
            subs = self.by_job.get(subscriber.job_id)
            if subs is not None:
                subs.discard(subscriber)
                if not subs:
                    del self.by_job[subscriber.job_id]
        else:
            self.wide.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self.wide) + sum(len(s) for s in self.by_job.values())

    # --- reading ---------------------------------------------------------------
    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"progress-hub {self.store.prefix}"
            )

    async def _run(self) -> None:
        delay = RECONNECT_DELAY[0]
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # A client library may turn a cancelled read into a
                    # connection error; a hub being closed must not resubscribe.
                    raise asyncio.CancelledError from exc
                self._subscribed.clear()
                logger.warning(
                    "event subscription on %r lost (%s); resubscribing in %.1f s",
                    self.store,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_DELAY[1])
            finally:
                await self._close_stream()

    async def _listen(self) -> None:
        self._stream = await self.store.open_event_stream()
        logger.info("listening for job events of %r", self.store)
        self._subscribed.set()
        async for raw in self._stream:
            event = JobEvent.decode(raw)
            if event is not None:
                self.events_seen += 1
                await self.dispatch(event)

    async def _close_stream(self) -> None:
        if self._stream is not None:
            # Closing a broken connection may fail; it is gone anyway.
            with contextlib.suppress(Exception):
                await self._stream.aclose()
            self._stream = None

    async def dispatch(self, event: JobEvent) -> None:
        targeted = self.by_job.get(event.job_id)
        if not targeted and not self.wide:
            return
        entry = await self._entry(event.job_id)
        if entry.row is None:
            return
        job = entry.view(event)
        item = Item(event.job_id, event.order, event.is_progress, event.is_final, job)
        for sub in list(targeted or ()):
            sub.mailbox.offer(item)
        for sub in list(self.wide):
            if sub.accepts is None or sub.accepts(entry.row):
                sub.mailbox.offer(item)

    async def _entry(self, job_id: str) -> JobEntry:
        entry = self.entries.get(job_id)
        if entry is not None:
            self.entries.move_to_end(job_id)
            return entry
        row, worker = await database_sync_to_async(_load)(self.store, job_id)
        entry = JobEntry(row)
        if worker:
            entry.meta["worker"] = worker
        self.entries[job_id] = entry
        if len(self.entries) > CACHE_SIZE:
            self.entries.popitem(last=False)
        return entry

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


_hubs: dict[tuple[int, str], EventHub] = {}


def get_hub() -> EventHub:
    """The hub of the running event loop for the app in force (created on first use)."""
    loop = asyncio.get_running_loop()
    store = get_app().state
    key = (id(loop), store.prefix)
    hub = _hubs.get(key)
    if hub is None:
        for stale in [k for k in _hubs if k[0] != id(loop)]:
            # A finished loop (tests run one per test) leaves its hub behind.
            _hubs.pop(stale, None)
        hub = _hubs[key] = EventHub(store)
    return hub


def hub_stats() -> dict[str, Any]:
    return {
        key[1]: {"subscribers": hub.subscribers, "events": hub.events_seen}
        for key, hub in _hubs.items()
    }
