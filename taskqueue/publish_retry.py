"""``retry=`` / ``retry_policy=``: sending a job again when Kafka did not confirm it.

Celery's call options and settings (``task_publish_retry``,
``task_publish_retry_policy``), with Celery's policy keys and defaults:

    max_retries     3      resends after the first try (None: until confirmed)
    interval_start  0      seconds before the first resend
    interval_step   0.2    added to the wait before each further resend
    interval_max    0.2    longest wait between two resends

Off by default, unlike Celery: librdkafka already resends within
``publish_timeout`` (idempotent producer), so a :class:`PublishError` means
that whole window passed, and four more windows would hold the caller for
a minute. Turn it on where a caller would rather wait than handle the error.

A resend is safe: it sends the *same* envelope, same job id, and a job id
runs once (a second copy is acked unrun), so an unconfirmed first try that
Kafka did store costs a duplicate record, never a second run
(:mod:`taskqueue.publish_outcome`). Only "outcome unknown" errors are
retried; a record Kafka refused (too large, unknown topic) fails at once.
Two cases publish once whatever the policy: inside ``app.bulk()`` (the
block waits once, at its end) and a chord member (an unconfirmed member
fails its chord at once; see publish_outcome).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import config_rules as r
from .exceptions import PublishError

if TYPE_CHECKING:
    from .app import TaskQueue
    from .message import Message
    from .result import AsyncResult

logger = logging.getLogger("taskqueue.publish")

DEFAULT_POLICY: dict[str, Any] = {
    "max_retries": 3,
    "interval_start": 0.0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
"""Celery's ``task_publish_retry_policy`` default."""


def retry_policy(value: Any) -> dict[str, Any]:
    """The rule of ``task_publish_retry_policy`` and of ``retry_policy=``:
    Celery's keys over the defaults; each a number >= 0 (``max_retries``
    an integer or None)."""
    given = r.to_object(value) if isinstance(value, str) else value
    if not isinstance(given, Mapping):
        raise ValueError(
            "expected a dict of max_retries, interval_start, interval_step, interval_max"
        )
    unknown = set(given) - set(DEFAULT_POLICY) - {"retry_errors"}
    if unknown:
        raise ValueError(
            f"unknown retry policy key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(DEFAULT_POLICY)}"
        )
    if given.get("retry_errors") is not None:
        raise ValueError("retry_errors is not supported: only an unconfirmed publish is retried")
    policy = dict(DEFAULT_POLICY)
    for key in DEFAULT_POLICY:
        if key not in given:
            continue
        raw = given[key]
        if key == "max_retries":
            policy[key] = None if raw is None else r.at_least(r.to_int, 0)(raw)
        else:
            policy[key] = r.at_least(r.to_float, 0)(raw)
    return policy


def waits(policy: Mapping[str, Any]) -> Any:
    """Seconds to wait before each resend (an endless series if max_retries is None)."""
    wait = float(policy["interval_start"])
    sent = 0
    while policy["max_retries"] is None or sent < policy["max_retries"]:
        yield min(wait, float(policy["interval_max"]))
        wait += float(policy["interval_step"])
        sent += 1


def publish(
    app: TaskQueue,
    message: Message,
    retry: bool | None,
    policy: Mapping[str, Any] | None,
) -> AsyncResult:
    """``app.publish(message)``, resent under the policy while its outcome is unknown."""
    s = app.settings
    if not (s.task_publish_retry if retry is None else retry):
        return app.publish(message)  # the usual case: nothing more per call
    from .canvas import chords_waiting_on

    if app.publisher.in_bulk or chords_waiting_on(message):
        return app.publish(message)
    chosen = retry_policy(policy) if policy is not None else s.task_publish_retry_policy
    resends = waits(chosen)
    while True:
        try:
            return app.publish(message)
        except PublishError as exc:
            wait = next(resends, None) if getattr(exc, "outcome_unknown", True) else None
            if wait is None:
                raise
            logger.warning(
                "publish of job %s (%s) not confirmed, sending it again in %.2f s: %s",
                message.id,
                message.task,
                wait,
                exc,
            )
            time.sleep(wait)
