"""Publish handles, and waiting for them without polling.

A :class:`PublishHandle` is the completion of one published record. The
transport resolves it when the broker answers (Kafka: from its delivery
thread; memory: at once). Callers that need the answer wait on a
:class:`Completion`, a latch over their handles: the resolving thread counts
it down and the last resolution wakes the waiter, a thread through an Event
or a coroutine through its event loop. No waiter drives the broker's poll
loop itself, so concurrent publishers never queue behind each other's
polling, and a wait ends the moment the last acknowledgment arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Sequence

from ..exceptions import PublishError

logger = logging.getLogger("taskqueue.transport")

HandleCallback = Callable[["PublishHandle"], object]


class PublishHandle:
    """Completion of one publish; resolved by the transport's delivery report.

    ``done`` is a plain flag, read by loops that check many handles (the
    worker's ledger). Callers that wait register a callback instead
    (:meth:`add_done_callback`); nothing per record is allocated unless
    someone waits on it, since an Event per record was a measurable share
    of a bulk publish.
    """

    __slots__ = ("topic", "key", "done", "error", "permanent", "partition", "offset", "_callbacks")

    def __init__(self, topic: str, key: bytes | None) -> None:
        self.topic = topic
        self.key = key
        self.done = False
        self.error: str | None = None
        self.permanent = False
        """The error recurs on a resend (unknown topic, record too large)."""
        self.partition: int | None = None
        self.offset: int | None = None
        self._callbacks: list[HandleCallback] | None = None

    def resolve(
        self,
        error: str | None,
        partition: int | None,
        offset: int | None,
        permanent: bool = False,
    ) -> None:
        self.error, self.partition, self.offset = error, partition, offset
        self.permanent = permanent and error is not None
        with _CALLBACKS_LOCK:
            self.done = True  # last: readers check it before the other fields
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            _run_callback(callback, self)

    def add_done_callback(self, callback: HandleCallback) -> None:
        """Call ``callback(handle)`` once resolved: at once if it is already,
        else in the thread that resolves it (so keep it short; never block)."""
        with _CALLBACKS_LOCK:
            if not self.done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        _run_callback(callback, self)

    def raise_for_error(self) -> None:
        if not self.done:
            raise PublishError(f"publish to topic {self.topic} was not acknowledged in time")
        if self.error is not None:
            raise PublishError(f"publish to topic {self.topic} failed: {self.error}")


_CALLBACKS_LOCK = threading.Lock()
"""Orders ``resolve`` against ``add_done_callback`` so that no callback is
added after the handle's callbacks ran. One lock for all handles: each
holder keeps it for a few instructions, and a lock per handle would cost an
allocation per record."""


def _run_callback(callback: HandleCallback, handle: PublishHandle) -> None:
    try:
        callback(handle)
    except Exception:
        # The resolving thread serves every other publish: one bad callback
        # must not stop it.
        logger.exception("publish callback %r failed", callback)


class Completion:
    """A latch over handles: wakes one waiting thread when all are resolved.

    Many handles cost one Event, not one each. Which handles failed is read
    from the handles afterwards.
    """

    __slots__ = ("_left", "_lock", "_event", "_then")

    def __init__(
        self, handles: Sequence[PublishHandle], then: Callable[[], object] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._then = then
        self._left = len(handles)
        if not handles:
            self._finish()
        for handle in handles:
            handle.add_done_callback(self._one_done)

    def _one_done(self, _handle: PublishHandle) -> None:
        with self._lock:
            self._left -= 1
            if self._left:
                return
        self._finish()

    def _finish(self) -> None:
        self._event.set()
        if self._then is not None:
            self._then()

    def wait(self, timeout: float) -> bool:
        """Block this thread until every handle is resolved; False on timeout."""
        return self._event.wait(timeout)


_SWEEP_SECONDS = 0.25
"""How often a loop's waits are checked against their deadlines: a publish
wait times out at most this late (its timeout is seconds long)."""


class _LoopWakeups:
    """Futures of one event loop that resolving threads have finished, and
    the deadlines of those futures.

    The loop is signalled once per batch, not once per future: the delivery
    thread resolves hundreds of handles per poll under load, and each
    ``call_soon_threadsafe`` writes to the loop's self-pipe. Deadlines are
    checked by one timer per loop, not one per wait: a timer per publish
    (scheduled, then cancelled) was a tenth of a coroutine's publish.
    """

    __slots__ = ("_loop", "_ready", "_lock", "_scheduled", "_deadlines", "_sweeping", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the loop is this object's key in _WAKEUPS, and a value that
        # held its key would keep every finished loop alive.
        self._loop = weakref.ref(loop)
        self._ready: list[asyncio.Future[None]] = []
        self._lock = threading.Lock()
        self._scheduled = False
        # Touched only in the loop's thread, so no lock.
        self._deadlines: dict[asyncio.Future[None], float] = {}
        # A flag, not the timer: a timer handle refers to its loop.
        self._sweeping = False

    def watch(self, future: asyncio.Future[None], timeout: float) -> None:
        """Settle ``future`` once ``timeout`` seconds pass (in the loop's thread)."""
        loop = future.get_loop()
        self._deadlines[future] = loop.time() + timeout
        if not self._sweeping:
            loop.call_later(_SWEEP_SECONDS, self._expire)
            self._sweeping = True

    def unwatch(self, future: asyncio.Future[None]) -> None:
        self._deadlines.pop(future, None)

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()  # a timer's callback runs in its loop
        now = loop.time()
        expired = [f for f, deadline in self._deadlines.items() if deadline <= now]
        for future in expired:
            del self._deadlines[future]
            _settle(future)
        self._sweeping = bool(self._deadlines)
        if self._sweeping:
            loop.call_later(_SWEEP_SECONDS, self._expire)

    def add(self, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` soon, in its loop (callable from any thread)."""
        with self._lock:
            self._ready.append(future)
            if self._scheduled:
                return
            self._scheduled = True
        loop = self._loop()
        if loop is None:
            return  # the loop is gone, and with it everyone waiting in it
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to wake
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
            self._scheduled = False
        for future in ready:
            _settle(future)


_WAKEUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWakeups] = (
    weakref.WeakKeyDictionary()
)
_WAKEUPS_LOCK = threading.Lock()


_last_wakeups: _LoopWakeups | None = None
"""The loop asked for last: usually the only one, found without a lookup."""


def _wakeups_of(loop: asyncio.AbstractEventLoop) -> _LoopWakeups:
    global _last_wakeups
    wakeups = _last_wakeups
    if wakeups is not None and wakeups._loop() is loop:
        return wakeups
    wakeups = _WAKEUPS.get(loop)
    if wakeups is None:
        with _WAKEUPS_LOCK:
            wakeups = _WAKEUPS.get(loop)
            if wakeups is None:
                wakeups = _WAKEUPS[loop] = _LoopWakeups(loop)
    _last_wakeups = wakeups
    return wakeups


async def wait_resolved_async(handles: Sequence[PublishHandle], timeout: float) -> bool:
    """Wait until every handle is resolved, without blocking the running
    event loop and without a thread; False if ``timeout`` passed first.

    The resolving thread hands the wake-up to the loop (batched per loop by
    :class:`_LoopWakeups`); nothing polls.
    """
    pending = [h for h in handles if not h.done]
    if not pending:
        return True
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    wakeups = _wakeups_of(loop)
    if len(pending) == 1:
        pending[0].add_done_callback(lambda _h: wakeups.add(future))
    else:
        Completion(pending, then=lambda: wakeups.add(future))
    wakeups.watch(future, timeout)
    try:
        await future
    finally:
        wakeups.unwatch(future)
    return all(h.done for h in pending)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():  # the other of (resolved, timed out) came first, or cancelled
        future.set_result(None)


def wait_for_handles(handles: Sequence[PublishHandle], timeout: float) -> None:
    """Block until every handle is resolved, then raise :class:`PublishError`
    for the first that failed or is still unresolved at ``timeout``."""
    pending = [h for h in handles if not h.done]
    if pending:
        Completion(pending).wait(timeout)
    for h in handles:
        h.raise_for_error()
