"""The redelivery check's fallback for jobs older than their Redis state.

The worker recognises a copy of a job that already ended by the state its
RECEIVED write meets in Redis. That state expires after ``state_ttl``; a job
whose record waited longer (a backlog behind a long outage, a group that
starts far behind, a replay) would meet no state and run again. For such
jobs the durable result decides first: when it says the attempt ended, the
copy is acked unrun, and no RECEIVED is written over nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..states import RETRY

if TYPE_CHECKING:
    from ..message import Message
    from ..stores.results import ResultStore

OLD_AFTER = 0.5
"""A job counts as old past this share of ``state_ttl`` since it was sent:
well before its state could have expired, so clocks a little apart do not
matter, and young jobs (nearly all) cost no lookup."""


def is_old(message: Message, state_ttl: float, now: float) -> bool:
    return bool(message.sent_at) and now - message.sent_at > state_ttl * OLD_AFTER


def ended_durably(results: ResultStore, message: Message) -> str | None:
    """The stored state if ``message``'s attempt already ended: final at any
    attempt, or RETRY at this attempt or a later one (its next attempt is
    published already). None when the job must run."""
    doc = results.get(message.id)
    if doc is None:
        return None
    state = str(doc.get("state") or "")
    if doc.get("final"):
        return state
    if state == RETRY.value and int(doc.get("retries") or 0) >= message.retries:
        return state
    return None
