"""The worker side of the progress request/reply over RabbitMQ.

Requests go to a fanout exchange (``<key_prefix>.progress`` by default);
each worker binds one exclusive, auto-delete queue of its own, so every
worker sees every request. The worker holding the job answers to the
request's ``reply_to`` with its ``correlation_id`` and the progress from its
memory; the others stay silent, and the asker times out into Redis.

Who may answer: anyone allowed to read the exchange sees the requests (job
ids) and could publish a reply to ``reply_to``. So the asker accepts a
reply only for a request it is waiting on, only from the worker the state
store names as the job's holder, and, when ``control_token`` is set, only
with a valid ``tq-signature`` header: an HMAC-SHA256 of the correlation id
and the body under the token, which a process without the token cannot
make (:func:`sign`, :func:`verify`). RabbitMQ permissions should still keep
the exchange to the workers and the site (docs/security.md).

pika's BlockingConnection runs in a dedicated thread: it is not thread-safe,
and only this thread touches it. RabbitMQ being away never stops the
worker: the thread logs once, retries with backoff, and logs the recovery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .inflight import InFlight, progress_of

logger = logging.getLogger("taskqueue.control")

if logging.getLogger("pika").level == logging.NOTSET:
    # pika narrates every connection step at INFO; the responder logs what
    # matters (down, back) itself. An application that set a level keeps it.
    logging.getLogger("pika").setLevel(logging.WARNING)

EXCHANGE_KIND = "fanout"

SIGNATURE_HEADER = "tq-signature"
"""AMQP header of a reply's HMAC (hex), present when a control token is set."""


def sign(token: str, correlation_id: str, body: bytes) -> str:
    """The reply's HMAC-SHA256 under ``token``: binds the body to its request."""
    return hmac.new(
        token.encode(), correlation_id.encode() + b"\n" + body, hashlib.sha256
    ).hexdigest()


def verify(token: str, correlation_id: str, body: bytes, headers: dict[str, Any] | None) -> bool:
    """Whether a reply carries a valid signature (always true without a token)."""
    if not token:
        return True
    presented = (headers or {}).get(SIGNATURE_HEADER)
    if isinstance(presented, bytes):
        presented = presented.decode(errors="replace")
    if not isinstance(presented, str):
        return False
    return hmac.compare_digest(presented, sign(token, correlation_id, body))


def safe_url(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def declare_exchange(channel: Any, exchange: str) -> None:
    """Both sides declare the exchange the same way (idempotent)."""
    channel.exchange_declare(exchange, EXCHANGE_KIND, durable=False, auto_delete=False)


def reply_body(held: Any, worker: str) -> bytes:
    return json.dumps(
        {
            "job_id": held.job_id,
            "state": held.state,
            "attempt": held.attempt,
            "progress": progress_of(held),
            "worker": worker,
            "updated_at": held.updated_at,
        },
        separators=(",", ":"),
        default=str,
    ).encode()


class ProgressResponder:
    """Answers progress requests for the jobs this worker holds."""

    def __init__(
        self, url: str, exchange: str, inflight: InFlight, worker: str, token: str = ""
    ) -> None:
        self.url = url
        self.token = token
        self.exchange = exchange
        self.inflight = inflight
        self.worker = worker
        self.answered = 0
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="taskqueue-progress-rpc", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import pika

        delay, down = 0.5, False
        while not self._stop.is_set():
            try:
                params = pika.URLParameters(self.url)
                params.connection_attempts = 1
                params.socket_timeout = 2
                connection = pika.BlockingConnection(params)
            except Exception as exc:
                if not down:
                    logger.warning(
                        "RabbitMQ unreachable at %s (%s); progress requests go unanswered "
                        "until it is back (retrying)",
                        safe_url(self.url),
                        exc,
                    )
                    down = True
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            if down:
                logger.warning("RabbitMQ reachable again at %s", safe_url(self.url))
            down, delay = False, 0.5
            try:
                self._serve(connection)
            except Exception as exc:
                logger.warning("progress request consumer stopped (%s); reconnecting", exc)
            finally:
                self.ready.clear()
                try:
                    connection.close()
                except Exception:  # already broken
                    logger.debug("closing a broken RabbitMQ connection failed", exc_info=True)

    def _serve(self, connection: Any) -> None:
        channel = connection.channel()
        declare_exchange(channel, self.exchange)
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, self.exchange)
        channel.basic_consume(queue, self._on_request, auto_ack=True)
        self.ready.set()
        logger.info("answering progress requests from exchange %s", self.exchange)
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.25)

    def _on_request(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        import pika

        try:
            job_id = str(json.loads(body)["job_id"])
        except (ValueError, KeyError, TypeError):
            logger.debug("malformed progress request %r", body[:200])
            return
        held = self.inflight.get(job_id)
        if held is None or not props.reply_to or not props.correlation_id:
            return  # not ours: another worker answers, or nobody and the asker falls back
        body = reply_body(held, self.worker)
        headers = {SIGNATURE_HEADER: sign(self.token, props.correlation_id, body)}
        channel.basic_publish(
            "",
            props.reply_to,
            body,
            pika.BasicProperties(
                correlation_id=props.correlation_id,
                content_type="application/json",
                headers=headers if self.token else None,
            ),
        )
        self.answered += 1
