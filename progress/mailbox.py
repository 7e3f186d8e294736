"""A subscriber's bounded queue: slow clients lose progress ticks, never states.

Events are offered by the hub's reader (one task per process) and taken by
the subscriber's own task. When a subscriber lags, the hub must not wait for
it (every other subscriber would lag too) and memory must stay bounded. A
PROGRESS tick is superseded by the next one, so under pressure a queued tick
of the same job is replaced (coalesced) and otherwise the oldest queued tick
is dropped. State changes (STARTED, RETRY, final states) are always kept;
if they alone pass the hard limit the client is hopeless and the
subscription ends with an error instead of growing without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from progress.events import Order

DEFAULT_SIZE = 256
"""Queued events per subscriber before progress ticks are coalesced or dropped."""

HARD_FACTOR = 4
"""A subscriber holding ``size * HARD_FACTOR`` unsent state changes is cut off."""


class Overflow(Exception):
    """The subscriber fell too far behind; its subscription ends."""


@dataclass(slots=True)
class Item:
    """One event for one subscriber: what to send and how to order it."""

    job_id: str
    order: Order
    is_progress: bool
    is_final: bool
    value: Any


class Mailbox:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.dropped = 0
        self._items: deque[Item] = deque()
        self._ready = asyncio.Event()
        self._overflowed = False
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: Item) -> None:
        """Queue ``item`` without ever blocking the caller (event-loop thread only)."""
        if self._closed:
            return
        items = self._items
        if len(items) >= self.size:
            if item.is_progress:
                self._coalesce_or_drop(item)
                return
            if not self._drop_oldest_progress() and len(items) >= self.size * HARD_FACTOR:
                self._overflowed = True
                self._ready.set()
                return
        items.append(item)
        self._ready.set()

    def _coalesce_or_drop(self, item: Item) -> None:
        for i in range(len(self._items) - 1, -1, -1):
            queued = self._items[i]
            if queued.job_id == item.job_id and queued.is_progress:
                self._items[i] = item  # newest tick of this job, in the old one's place
                self.dropped += 1
                return
        # No tick of this job is queued: drop the oldest tick of any job to
        # make room, or this one if none is queued.
        if self._drop_oldest_progress():
            self._items.append(item)
        else:
            self.dropped += 1

    def _drop_oldest_progress(self) -> bool:
        for i, queued in enumerate(self._items):
            if queued.is_progress:
                del self._items[i]
                self.dropped += 1
                return True
        return False

    async def get(self) -> Item:
        """The next item; raises :class:`Overflow` once the subscriber was cut off."""
        while True:
            if self._overflowed:
                raise Overflow(
                    f"client too slow: more than {self.size * HARD_FACTOR} events unsent"
                )
            if self._items:
                return self._items.popleft()
            self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
