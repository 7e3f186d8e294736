"""How an app publishes: one call waits for Kafka's acknowledgment,
``bulk()`` waits once for many, and a coroutine waits without blocking its
event loop.

Every way ends in the same wait (:meth:`Publisher.wait`), so the errors a
caller sees and the ``after_publish`` hooks are the same whichever way a
job was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .delays import route
from .exceptions import PublishError
from .message import Message
from .policies.revoke import remember_due
from .publish_outcome import publish_failed, report_sent_before_error
from .result import AsyncResult
from .transport import PublishHandle
from .transport.base import AUTO, BUSY

if TYPE_CHECKING:
    from .app import TaskQueue

Sent = list[tuple[Message, PublishHandle]]


class Publisher:
    """Publishes an app's envelopes; one per app (``app.publisher``)."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app
        # This thread's open collection: a bulk() block, or the one publish
        # of a coroutine (publish_async). ``batching`` only for bulk().
        self._local = threading.local()

    @property
    def in_bulk(self) -> bool:
        """Whether this thread's publishes are collected, not waited for one by one."""
        return getattr(self._local, "pending", None) is not None

    def publish(self, message: Message) -> AsyncResult:
        """Send one envelope; waits for the broker's ack unless collected."""
        app, s = self.app, self.app.settings
        app.middleware.before_publish(message)
        data = message.encode(s.max_message_bytes)
        key = (message.routing_key or message.id).encode()
        # A future eta goes through the delay tiers (taskqueue.delays), never
        # to the queue directly: no worker has to hold it in memory.
        queue_topic = s.topic(message.queue)
        topic, headers = route(s, queue_topic, message.eta, message.kafka_headers())
        if topic != queue_topic:
            remember_due(app, message)  # a revoke must outlive a far eta
        # A bulk block's records keep their order (one producer) and may
        # share batches; a single call's record may take either producer,
        # since the caller waits for it before publishing again.
        lane = BUSY if getattr(self._local, "batching", False) else AUTO
        handle = app.transport.send(topic, data, key, headers, lane)
        pending: Sent | None = getattr(self._local, "pending", None)
        if pending is not None:
            pending.append((message, handle))
        else:
            self.wait([(message, handle)])
        return AsyncResult(message.id, app, message.task, just_sent=True)

    def wait(self, items: Sent) -> None:
        """Until every record is acknowledged, then the ``after_publish``
        hooks; :class:`PublishError` naming the jobs if any is not."""
        app = self.app
        try:
            app.transport.wait([h for _, h in items], app.settings.publish_timeout + 5)
        except PublishError as exc:
            raise publish_failed(app, items, exc) from exc
        if app.middleware:
            for message, _ in items:
                app.middleware.after_publish(message)

    @contextlib.contextmanager
    def bulk(self) -> Iterator[Sent]:
        """See :meth:`TaskQueue.bulk`."""
        local = self._local
        if self.in_bulk:
            yield local.pending  # nested: the outer block waits
            return
        pending: Sent = []
        acknowledged: list[Callable[[], object]] = []
        local.pending, local.acknowledged, local.batching = pending, acknowledged, True
        try:
            yield pending
        except BaseException as exc:
            self._close_collection()
            if report_sent_before_error(self.app, pending, exc):
                _run_all(acknowledged)
            raise
        self._close_collection()
        self.wait(pending)
        _run_all(acknowledged)

    async def publish_async(self, publish: Callable[[], AsyncResult]) -> AsyncResult:
        """See :meth:`TaskQueue.publish_async`."""
        if self.in_bulk:
            return publish()  # inside bulk(): the block waits, as for apply_async
        pending: Sent = []
        acknowledged: list[Callable[[], object]] = []
        # Nothing awaits between opening and closing the collection, so no
        # other coroutine of this thread's loop can publish into it.
        self._local.pending, self._local.acknowledged = pending, acknowledged
        try:
            result = publish()
        finally:
            self._close_collection()
        app = self.app
        await app.transport.wait_async([h for _, h in pending], app.settings.publish_timeout + 5)
        if all(h.done for _, h in pending):
            self.wait(pending)  # returns at once: raises the usual error or runs the hooks
        else:  # librdkafka gave no answer in time (it normally does): off the loop
            await asyncio.get_running_loop().run_in_executor(None, self.wait, pending)
        _run_all(acknowledged)
        return result

    def after_acknowledged(self, then: Callable[[], object]) -> None:
        """See :meth:`TaskQueue.after_acknowledged`."""
        waiting: list[Callable[[], object]] | None = getattr(self._local, "acknowledged", None)
        if waiting is None:
            then()
        else:
            waiting.append(then)

    def _close_collection(self) -> None:
        local = self._local
        local.pending = local.acknowledged = None
        local.batching = False


def _run_all(callbacks: list[Callable[[], object]]) -> None:
    for then in callbacks:
        then()
