"""Closing websockets whose credentials ended.

A websocket outlives the request that authenticated it, so the end of its
credentials has to reach it: each authenticated connection joins channel-layer
groups (the Redis layer of ``CHANNEL_LAYERS``, shared by every ASGI process)
for what it was authenticated with (alias :data:`LAYER`), and these signal receivers send the group
a ``credentials.ended`` message, on which the consumer closes with 4401:

- its session: the person logged out (``user_logged_out``);
- its API token: the token was deleted, which is how tokens are revoked
  (``post_delete``), or it expired: each process that authenticated an
  expiring token arms an alarm (:class:`ExpiryAlarms`, one thread) that sends
  the message at ``expires_at``, after checking the database that the expiry
  still holds; an expiry moved into the past is sent at once (``post_save``);
- its user: the account was deactivated or deleted (``post_save`` with
  ``is_active`` false, ``post_delete``).

Group names carry digests, never a session key or token: whoever reads Redis
learns nothing they could log in with.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import threading
import time
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("progress.credentials")

LAYER = "credentials"
"""The ``CHANNEL_LAYERS`` alias the messages travel on (Redis pub/sub)."""

ENDED = "credentials.ended"
"""The channel-layer message type (handled by ``GraphQLWSConsumer.credentials_ended``)."""


def user_group(user_pk: Any) -> str:
    return f"ws.user.{user_pk}"


def token_group(digest: str) -> str:
    """``digest``: the SHA-256 that ApiToken stores (see :func:`token_digest`)."""
    return f"ws.token.{digest}"


def token_digest(plain: str) -> str:
    """The digest ``jobs.models.ApiToken`` stores for a plain token."""
    return hashlib.sha256(plain.encode()).hexdigest()


def session_group(session_key: str) -> str:
    return "ws.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def end(group: str, reason: str) -> None:
    """Close every socket in ``group``, once the current transaction commits
    (a rolled-back deletion ends nothing). Never fails the caller: a logout
    must succeed even when Redis does not answer."""

    def send() -> None:
        layer = get_channel_layer(LAYER)
        if layer is None:
            return
        message = {"type": ENDED, "reason": reason}
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            try:
                async_to_sync(layer.group_send)(group, message)
            except Exception:
                logger.exception("could not close the websockets of %s", group)
            return
        # Called from async code (a test, an async view): do not block the loop.
        task = asyncio.get_running_loop().create_task(layer.group_send(group, message))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    transaction.on_commit(send)


_pending: set[asyncio.Task[None]] = set()
"""Group sends scheduled from async code, kept referenced until done."""


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        end(session_group(key), "logged out")


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    end(token_group(instance.digest), "API token revoked")


EXPIRED = "API token expired"


class ExpiryAlarms:
    """Ends the websockets of tokens when they expire: a heap of due times
    and one daemon thread per process, started by the first alarm."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, digest: str, expires_at: datetime) -> None:
        """Send ``credentials.ended`` to the token's group at ``expires_at``
        (replaces an alarm armed for another moment). Cheap when armed already:
        it runs on every authentication of the token."""
        at = expires_at.timestamp()
        with self._wake:
            if self._due.get(digest) == at:
                return
            self._due[digest] = at
            heapq.heappush(self._heap, (at, digest))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="token-expiry-alarms", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                at, digest = self._heap[0]
                delay = at - time.time()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                if self._due.get(digest) != at:
                    continue  # re-armed for another moment
                del self._due[digest]
            self._fire(digest)

    def _fire(self, digest: str) -> None:
        from django.db import connection

        from jobs.models import ApiToken

        try:
            token = ApiToken.objects.filter(digest=digest).first()
        except Exception:
            logger.exception("could not read API token %s… at its expiry", digest[:8])
            return
        finally:
            connection.close()  # this thread's own: idle for long between alarms
        if token is None:
            return  # deleted: its deletion closed the sockets already
        if not token.is_expired():
            if token.expires_at is not None:
                self.arm(digest, token.expires_at)  # extended meanwhile
            return
        end(token_group(digest), EXPIRED)


expiry_alarms = ExpiryAlarms()
"""The process's alarms (armed by :func:`on_token_authenticated`)."""


def on_token_authenticated(sender: Any, token: Any, **kwargs: Any) -> None:
    if token.expires_at is not None:
        expiry_alarms.arm(token.digest, token.expires_at)


def on_token_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created or instance.expires_at is None:
        return
    if instance.is_expired():
        end(token_group(instance.digest), EXPIRED)
    else:
        expiry_alarms.arm(instance.digest, instance.expires_at)  # maybe sooner now


def on_user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not instance.is_active:
        end(user_group(instance.pk), "account deactivated")


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    end(user_group(instance.pk), "account deleted")


def connect_signals() -> None:
    """Called once from ``ProgressConfig.ready``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import post_delete, post_save

    from jobs.models import ApiToken, token_authenticated

    user_model = get_user_model()
    user_logged_out.connect(on_logged_out, dispatch_uid="progress.credentials.logout")
    post_delete.connect(
        on_token_deleted, sender=ApiToken, dispatch_uid="progress.credentials.token"
    )
    post_save.connect(
        on_token_saved, sender=ApiToken, dispatch_uid="progress.credentials.token_saved"
    )
    token_authenticated.connect(
        on_token_authenticated, sender=ApiToken, dispatch_uid="progress.credentials.token_used"
    )
    post_save.connect(on_user_saved, sender=user_model, dispatch_uid="progress.credentials.user")
    post_delete.connect(
        on_user_deleted, sender=user_model, dispatch_uid="progress.credentials.user_deleted"
    )
