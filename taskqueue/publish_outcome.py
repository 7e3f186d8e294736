"""What a failed publish tells its caller, and what it leaves behind.

A publish Kafka did not confirm in time may still have been stored: the
acknowledgement, not the record, can be what was lost. So a
:class:`~.exceptions.PublishError` from waiting says "outcome unknown" and
names the ids; sending them again with the same ``task_id`` is safe, since
a job id runs once (a second copy of a job is acked unrun). A record the
broker refused (a permanent error: unknown topic, too large) was not
stored, and the error says so.

Whatever the outcome, nothing may wait forever on it. A chord that counts
an unconfirmed job among its members (the member itself, or a chain step
that would lead to it) is failed at once with ``ChordError``: were the job
lost, the chord could never complete. If the job was stored after all and
the chord completes, its callback meets the final FAILURE and is acked
unrun. And records handed to the producer in a ``bulk()`` block whose body
raised are not dropped silently: they are waited for and reported on the
body's exception.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .canvas import chord_failed, chords_waiting_on
from .exceptions import PublishError
from .states import FAILURE

if TYPE_CHECKING:
    from .app import TaskQueue
    from .message import Message
    from .transport import PublishHandle

logger = logging.getLogger("taskqueue.publish")

Sent = Sequence[tuple["Message", "PublishHandle"]]


def publish_failed(app: TaskQueue, items: Sent, exc: PublishError) -> PublishError:
    """The error to raise when waiting for ``items`` failed with ``exc``;
    fails the chords that counted on an unconfirmed job first."""
    failed = [(m, h) for m, h in items if not h.done or h.error]
    refused = [m.id for m, h in failed if h.done and h.permanent]
    unknown = [m.id for m, h in failed if not (h.done and h.permanent)]
    fail_chords(app, [m for m, _ in failed], str(exc))
    parts = []
    if refused:
        parts.append(f"{len(refused)} refused by Kafka, not accepted (first id {refused[0]})")
    if unknown:
        parts.append(
            f"{len(unknown)} not confirmed: outcome unknown, Kafka may have stored them "
            f"(first id {unknown[0]}); sending them again with the same task_id is safe, "
            "a job id runs once"
        )
    error = PublishError(
        f"{exc}: of {len(items)} job(s), {'; '.join(parts)}. "
        f"Is Kafka up at {app.settings.broker_url} and does the topic exist "
        "(`python -m taskqueue topics create -A <module>`)?"
    )
    error.job_ids = [m.id for m, _ in failed]
    error.outcome_unknown = bool(unknown)
    return error


def fail_chords(app: TaskQueue, messages: Sequence[Message], reason: str) -> None:
    """Fail every chord one of ``messages`` would have counted in."""
    from .policies.revoke import close_job

    for message in messages:
        for info in chords_waiting_on(message):
            callback_id = chord_failed(info)
            if callback_id is None:
                continue
            error = {
                "exc_type": "ChordError",
                "exc_message": f"member {message.id} was not confirmed by Kafka ({reason})",
            }
            try:
                close_job(app, callback_id, FAILURE.value, error)
            except Exception:  # the caller's PublishError is the news; this is logged
                logger.exception("chord %s of job %s not failed", callback_id, message.id)


def report_sent_before_error(app: TaskQueue, items: Sent, body_error: BaseException) -> bool:
    """A ``bulk()`` body raised after handing ``items`` to the producer: wait
    for them and say on ``body_error`` what became of them; whether all were
    acknowledged."""
    if not items:
        return True
    ids = ", ".join(m.id for m, _ in items[:3]) + (", ..." if len(items) > 3 else "")
    try:
        app.publisher.wait(list(items))
    except PublishError as exc:
        body_error.add_note(
            f"taskqueue: {len(items)} job(s) published in the bulk() block before this "
            f"error were not all confirmed: {exc}"
        )
        return False
    body_error.add_note(
        f"taskqueue: {len(items)} job(s) published in the bulk() block before this error "
        f"were sent and will run ({ids})"
    )
    return True
