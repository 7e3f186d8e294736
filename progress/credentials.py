"""Closing websockets whose credentials ended.

A websocket outlives the request that authenticated it, so the end of its
credentials has to reach it: each authenticated connection joins channel-layer
groups (the Redis layer of ``CHANNEL_LAYERS``, shared by every ASGI process)
for what it was authenticated with (alias :data:`LAYER`), and these signal receivers send the group
a ``credentials.ended`` message, on which the consumer closes with 4401:

- its session: the person logged out (``user_logged_out``);
- its API token: the token was deleted (``post_delete``);
- its user: the account was deactivated or deleted (``post_save`` with
  ``is_active`` false, ``post_delete``).

Group names carry digests, never a session key or token: whoever reads Redis
learns nothing they could log in with.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
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

    from jobs.models import ApiToken

    user_model = get_user_model()
    user_logged_out.connect(on_logged_out, dispatch_uid="progress.credentials.logout")
    post_delete.connect(
        on_token_deleted, sender=ApiToken, dispatch_uid="progress.credentials.token"
    )
    post_save.connect(on_user_saved, sender=user_model, dispatch_uid="progress.credentials.user")
    post_delete.connect(
        on_user_deleted, sender=user_model, dispatch_uid="progress.credentials.user_deleted"
    )
