"""``app.control``'s commands that change workers, in Celery's shape.

``shutdown``, ``pool_grow``, ``pool_shrink``, ``autoscale``, ``add_consumer``
and ``cancel_consumer`` go to every live worker, or only to those named in
``destination``, over each worker's gRPC service (with the ``control_token``).
As in Celery they return None unless ``reply=True``; then a list with one
``{worker_name: {"ok": text}}`` per worker that answered, or
``{worker_name: {"error": text}}`` for a worker that refused (the text says
what was wrong: a negative ``n``, a queue it does not consume...). A worker
that does not answer within ``timeout`` is left out, as in Celery.

Mixed into :class:`taskqueue.policies.revoke.Control`; the gRPC modules are
imported on the first call only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import TaskQueue
    from .client import Answer, ControlClient

COMMAND_TIMEOUT = 5.0
"""Seconds a worker gets to answer a command (Celery's default is 1 s; adding
a consumer may create its topic first)."""

Replies = list[dict[str, dict[str, str]]] | None

UNREACHABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "NONE")
"""Answers that mean "no reply" (left out) rather than "refused"."""


def _destination(destination: Sequence[str] | str | None) -> list[str] | None:
    if destination is None:
        return None
    return [destination] if isinstance(destination, str) else list(destination)


def _count(n: Any, command: str) -> int:
    # Checked here because protobuf would reject it with a TypeError that
    # names neither the command nor the argument.
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"{command}(n={n!r}): n must be a whole number of at least 1")
    return n


class WorkerCommands:
    app: TaskQueue

    def _broadcast(
        self,
        call: Callable[[ControlClient], list[Answer]],
        reply: bool,
        timeout: float,
    ) -> Replies:
        from .client import ControlClient

        client = ControlClient(self.app, timeout=timeout)
        try:
            answers = call(client)
        finally:
            client.close()
        if not reply:
            return None
        out: list[dict[str, dict[str, str]]] = []
        for a in answers:
            if a.ok:
                out.append({a.worker: {"ok": a.reply.ok}})
            elif a.code not in UNREACHABLE:
                out.append({a.worker: {"error": a.details or a.error or "refused"}})
        return out

    def shutdown(
        self,
        destination: Sequence[str] | str | None = None,
        reply: bool = False,
        timeout: float = COMMAND_TIMEOUT,
        reason: str = "",
    ) -> Replies:
        """Warm shutdown of the workers, as on SIGTERM (Celery's ``control.shutdown``)."""
        where = _destination(destination)
        return self._broadcast(lambda c: c.shutdown(where, reason), reply, timeout)

    def pool_grow(
        self,
        n: int = 1,
        destination: Sequence[str] | str | None = None,
        reply: bool = False,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Replies:
        """Add ``n`` threads or processes to each worker's pool."""
        n, where = _count(n, "pool_grow"), _destination(destination)
        return self._broadcast(lambda c: c.pool_grow(n, where), reply, timeout)

    def pool_shrink(
        self,
        n: int = 1,
        destination: Sequence[str] | str | None = None,
        reply: bool = False,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Replies:
        """Remove ``n`` threads or processes (a running task is never cut short)."""
        n, where = _count(n, "pool_shrink"), _destination(destination)
        return self._broadcast(lambda c: c.pool_shrink(n, where), reply, timeout)

    def autoscale(
        self,
        max: int,  # noqa: A002 - Celery's argument names
        min: int,  # noqa: A002
        destination: Sequence[str] | str | None = None,
        reply: bool = False,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Replies:
        """Set the autoscale range of workers started with ``--autoscale``."""
        high, low = _count(max, "autoscale max"), _count(min, "autoscale min")
        where = _destination(destination)
        return self._broadcast(lambda c: c.autoscale(high, low, where), reply, timeout)

    def add_consumer(
        self,
        queue: str,
        exchange: str | None = None,
        exchange_type: str = "direct",
        routing_key: str | None = None,
        options: dict[str, Any] | None = None,
        destination: Sequence[str] | str | None = None,
        reply: bool = False,
        timeout: float = COMMAND_TIMEOUT,
        **kwargs: Any,
    ) -> Replies:
        """Start consuming ``queue`` (its topic; the worker joins its group).

        ``exchange``, ``exchange_type``, ``routing_key`` and ``options`` are
        AMQP's and mean nothing on Kafka: accepted for Celery's signature, and
        refused when set, so that nobody relies on them silently.
        """
        amqp = {
            "exchange": exchange,
            "routing_key": routing_key,
            "options": options,
            **kwargs,
        }
        set_ = sorted(k for k, v in amqp.items() if v)
        if set_ or exchange_type != "direct":
            raise ValueError(
                f"add_consumer: {', '.join(set_) or 'exchange_type'} is AMQP routing, which "
                "Kafka has not: a queue is a topic, named by the queue alone"
            )
        where = _destination(destination)
        return self._broadcast(lambda c: c.add_consumer(queue, where), reply, timeout)

    def cancel_consumer(
        self,
        queue: str,
        destination: Sequence[str] | str | None = None,
        reply: bool = False,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Replies:
        """Stop consuming ``queue``; jobs already fetched from it finish first."""
        where = _destination(destination)
        return self._broadcast(lambda c: c.cancel_consumer(queue, where), reply, timeout)
