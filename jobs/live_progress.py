"""Ask the worker holding a job for its progress (RabbitMQ request/reply), else Redis.

Used by admin (jobs) and by the ``jobProgress`` query (progress), so it
lives in the jobs app: ``progress -> jobs`` is the one allowed direction.

One reply consumer per process: a daemon thread owns a pika
BlockingConnection (pika is not thread-safe, so no other thread touches it)
and consumes RabbitMQ's direct reply-to pseudo-queue
(``amq.rabbitmq.reply-to``: no queue to declare or delete, replies go
straight back on this connection). Callers, from any thread, hand their
request to that thread and wait on a future keyed by the correlation id;
a reply whose id nobody waits for any more (late, unknown) is dropped.

Replies are trusted only as far as they are checked: the job is asked of
its holder only (the ``worker`` field of its live state in Redis; a job no
worker holds is not asked at all), a reply naming another worker or
another job is dropped, and with ``control_token`` set a reply must carry
the worker's signature (``taskqueue.control.progress_rpc.verify``). A
dropped reply leaves the caller waiting for the true one, then Redis.

Why pika and a thread, not aio-pika: the callers (GraphQL resolvers, admin
views) are synchronous Django code, pika is already the project's AMQP
client, and one thread per process serves every concurrent caller.

RabbitMQ away: the question is answered from Redis and the outage is
logged once (and its end once), not on every call; reconnection is tried
at most every ``RECONNECT_EVERY`` seconds, so callers never pay a connect
timeout each.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from jobs.jobview import JobView
from jobs.models import Job
from jobs.taskapp import get_app
from taskqueue.control.progress_rpc import declare_exchange, safe_url, verify

logger = logging.getLogger("jobs.live_progress")

REPLY_TO = "amq.rabbitmq.reply-to"
DEFAULT_TIMEOUT = 0.3
"""Seconds to wait for the worker's reply (``PROGRESS_RPC_TIMEOUT``)."""
RECONNECT_EVERY = 5.0
"""Seconds between connection attempts while RabbitMQ is down."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A job's progress and who answered: ``worker``, ``redis`` or ``database``."""

    job_id: str
    source: str
    state: str
    attempt: int | None
    progress: dict[str, Any]
    worker: str | None = None

    def as_graphql(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "source": self.source,
            "state": self.state,
            "attempt": self.attempt,
            "worker": self.worker,
            **{k: self.progress.get(k) for k in ("current", "total", "percent", "message")},
        }


class ProgressClient:
    """Correlated requests over one connection and one reply consumer."""

    def __init__(self, url: str, exchange: str, token: str = "") -> None:
        self.url = url
        self.exchange = exchange
        self.token = token
        self._pending: dict[str, tuple[Future[dict[str, Any]], str, str]] = {}
        self._lock = threading.Lock()
        self._connection: Any = None
        self._channel: Any = None
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._connecting: threading.Event | None = None
        self._down_since: float | None = None
        self._last_attempt = 0.0
        self.dropped = 0
        self.refused = 0

    # --- callers' side -----------------------------------------------------------
    def ask(self, job_id: str, timeout: float, holder: str) -> dict[str, Any] | None:
        """The reply of ``holder`` (the worker the state store names), or None
        (no such reply in time, or RabbitMQ down)."""
        if not self._ensure_connected():
            return None
        correlation_id = uuid.uuid4().hex
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._pending[correlation_id] = (future, job_id, holder)
        try:
            body = json.dumps({"job_id": job_id}).encode()
            connection = self._connection
            connection.add_callback_threadsafe(lambda: self._publish(correlation_id, body))
            return future.result(timeout)
        except FutureTimeout:
            return None
        except Exception as exc:
            self._mark_down(exc)
            return None
        finally:
            with self._lock:
                self._pending.pop(correlation_id, None)

    def _ensure_connected(self) -> bool:
        if self._connected.is_set():
            return True
        with self._lock:
            if self._connected.is_set():
                return True
            ready = self._connecting
            if ready is None:
                if time.monotonic() - self._last_attempt < RECONNECT_EVERY and self._last_attempt:
                    return False  # down: do not make every caller pay a connect attempt
                self._last_attempt = time.monotonic()
                ready = self._connecting = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(ready,), name="progress-rpc-replies", daemon=True
                )
                self._thread.start()
        ready.wait(3.0)  # callers arriving during an attempt wait for its outcome
        return self._connected.is_set()

    # --- the connection's thread ------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        import pika

        try:
            params = pika.URLParameters(self.url)
            params.connection_attempts = 1
            params.socket_timeout = 1.0
            params.blocked_connection_timeout = 2.0
            self._connection = pika.BlockingConnection(params)
            self._channel = self._connection.channel()
            declare_exchange(self._channel, self.exchange)
            self._channel.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)
        except Exception as exc:
            self._mark_down(exc)
            self._connecting = None
            ready.set()
            return
        if self._down_since is not None:
            logger.warning("RabbitMQ reachable again at %s", safe_url(self.url))
        self._down_since = None
        self._connected.set()
        self._connecting = None
        ready.set()
        try:
            while self._connected.is_set():
                self._connection.process_data_events(time_limit=1.0)
        except Exception as exc:
            self._mark_down(exc)
        finally:
            self._connected.clear()
            try:
                self._connection.close()
            except Exception:  # already broken
                logger.debug("closing a broken RabbitMQ connection failed", exc_info=True)

    def _publish(self, correlation_id: str, body: bytes) -> None:
        import pika

        self._channel.basic_publish(
            self.exchange,
            "",
            body,
            pika.BasicProperties(
                reply_to=REPLY_TO,
                correlation_id=correlation_id,
                content_type="application/json",
                expiration="5000",  # a request nobody took in 5 s is worthless
            ),
        )

    def _on_reply(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        correlation_id = props.correlation_id or ""
        with self._lock:
            waiting = self._pending.get(correlation_id)
        if waiting is None:
            self.dropped += 1  # late (the caller gave up) or not ours
            return
        future, job_id, holder = waiting
        reply = self._accepted(correlation_id, body, props.headers, job_id, holder)
        if reply is None:
            self.refused += 1  # the true holder may still answer before the timeout
            return
        with self._lock:
            self._pending.pop(correlation_id, None)
        future.set_result(reply)

    def _accepted(
        self, correlation_id: str, body: bytes, headers: Any, job_id: str, holder: str
    ) -> dict[str, Any] | None:
        """The reply if it is signed (with a token), about ``job_id``, from ``holder``."""
        if not verify(self.token, correlation_id, body, headers):
            logger.warning("progress reply for job %s refused: bad or missing signature", job_id)
            return None
        try:
            reply = json.loads(body)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or reply.get("job_id") != job_id:
            logger.warning("progress reply for job %s refused: not about that job", job_id)
            return None
        if reply.get("worker") != holder:
            logger.warning(
                "progress reply for job %s refused: from %r, but %r holds it",
                job_id,
                reply.get("worker"),
                holder,
            )
            return None
        return reply

    def _mark_down(self, exc: BaseException) -> None:
        self._connected.clear()
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning(
                "RabbitMQ unreachable at %s (%s); job progress is answered from Redis until "
                "it is back",
                safe_url(self.url),
                exc,
            )

    def close(self) -> None:
        self._connected.clear()
        if self._thread is not None:
            self._thread.join(timeout=3)


_clients: dict[tuple[str, str, str], ProgressClient] = {}
_clients_lock = threading.Lock()


def client() -> ProgressClient:
    """The process's client for the app in force (one per URL and exchange)."""
    s = get_app().settings
    url = s.rabbitmq_url or getattr(settings, "RABBITMQ_URL", "")
    key = (url, s.progress_exchange_name(), s.control_token)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = ProgressClient(*key)
        return found


def job_progress(job: Job, timeout: float | None = None) -> Answer:
    """Ask the worker holding ``job``; fall back to Redis, then to the row."""
    job_id = str(job.pk)
    view = JobView(job)
    # The holder by the live state: only it may answer, and a job nobody
    # holds (queued, delayed) has no one to ask.
    holder = view.meta.get("worker") if not job.is_final else None
    if holder:
        wait = getattr(settings, "PROGRESS_RPC_TIMEOUT", DEFAULT_TIMEOUT)
        reply = client().ask(job_id, wait if timeout is None else timeout, holder)
        if reply is not None:
            return Answer(
                job_id,
                "worker",
                str(reply.get("state")),
                _int(reply.get("attempt")),
                dict(reply.get("progress") or {}),
                reply.get("worker"),
            )
    meta = view.meta
    return Answer(
        job_id,
        "redis" if meta else "database",
        view.state.value,
        _int(meta.get("attempt")) if meta else max(job.attempts - 1, 0),
        view.progress,
        view.worker,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
