"""The middleware every app carries that sends the publish and receive signals.

``before_task_publish``/``after_task_publish`` get Celery's protocol-2
arguments built from our envelope: ``headers`` (``task``, ``id``,
``root_id``, ``parent_id``, ``group``, ``retries``, ``eta``, ``expires``,
``origin`` and the message's own headers), ``body`` (``(args, kwargs,
embed)``), ``routing_key`` (the queue) and ``exchange`` (``""``: Kafka has
none). Entries a ``before_task_publish`` receiver adds to ``headers`` (or
changes, other than those protocol fields) travel in the message's
headers. Nothing is built unless a receiver is connected.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from . import signals
from .middleware import Middleware

if TYPE_CHECKING:
    from .app import TaskQueue
    from .message import Message

_PROTOCOL_FIELDS = frozenset(
    {"lang", "task", "id", "root_id", "parent_id", "group", "retries", "eta", "expires", "origin"}
)


class SignalMiddleware(Middleware):
    """Publish signals in the publishing process; ``task_received`` in the
    worker's loop (see ``taskqueue.signals``)."""

    def __init__(self, app: TaskQueue) -> None:
        self.app = app

    def before_publish(self, message: Message) -> None:
        if not signals.before_task_publish.has_listeners():
            return
        headers = celery_headers(message)
        signals.before_task_publish.send(
            sender=message.task,
            body=celery_body(message),
            exchange="",
            routing_key=message.queue,
            headers=headers,
            properties={"correlation_id": message.id},
            declare=[],
            retry_policy=None,
        )
        for key, value in headers.items():
            if key not in _PROTOCOL_FIELDS and message.headers.get(key, _MISSING) != value:
                message.headers[key] = value  # the envelope is frozen, its headers dict is not

    def after_publish(self, message: Message) -> None:
        if not signals.after_task_publish.has_listeners():
            return
        signals.after_task_publish.send(
            sender=message.task,
            body=celery_body(message),
            exchange="",
            routing_key=message.queue,
            headers=celery_headers(message),
        )

    def received(self, message: Message) -> None:
        if not signals.task_received.has_listeners():
            return
        from .task import Request

        request = Request.from_message(message, hostname=self.app.hostname)
        signals.task_received.send(sender=self.app, request=request)


_MISSING = object()


def celery_headers(message: Message) -> dict[str, Any]:
    return {
        **message.headers,
        "lang": "py",
        "task": message.task,
        "id": message.id,
        "root_id": message.root_id,
        "parent_id": message.parent_id,
        "group": message.group,
        "retries": message.retries,
        "eta": _iso(message.eta),
        "expires": _iso(message.expires),
        "origin": message.origin,
    }


def celery_body(message: Message) -> tuple[Any, ...]:
    embed = {
        "callbacks": list(message.callbacks) or None,
        "errbacks": list(message.errbacks) or None,
        "chain": None,
        "chord": None,
    }
    return (list(message.args), dict(message.kwargs), embed)


def _iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).isoformat()
