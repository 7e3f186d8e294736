"""Ordered, idempotent state transitions of Job rows: one conditional UPDATE.

Events reach the database late, twice, or out of order (redelivery, a
retry's next attempt racing the previous attempt's last event, two writers).
Reading the row, checking and saving would let two writers interleave, so
the rule of :func:`taskqueue.states.may_replace` is written into the WHERE
clause instead: the database applies the check and the write atomically, and
an event that lost the race simply matches no row.

Attempts are counted from 1 on the row (``Job.attempts``); the framework's
``retries`` counts from 0, hence ``attempt = retries + 1`` at the callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from jobs.models import Job
from taskqueue.states import PRECEDENCE, READY_STATES, State

FINAL_VALUES = tuple(s.value for s in READY_STATES)
"""Final states as stored in the ``state`` column."""


@dataclass(frozen=True)
class Transition:
    """One state change for one job, as a worker event or the API reports it."""

    job_id: str
    state: State
    attempt: int
    at: datetime
    fields: dict[str, Any] = field(default_factory=dict)


def replace_condition(state: State, attempt: int) -> Q:
    """Rows that ``state`` of ``attempt`` may overwrite (``may_replace`` as SQL)."""
    # RETRY ends its attempt: only a later attempt replaces it.
    not_lower = [
        s.value
        for s, rank in PRECEDENCE.items()
        if rank <= PRECEDENCE[state] and s is not State.RETRY
    ]
    return ~Q(state__in=FINAL_VALUES) & (
        Q(attempts__lt=attempt) | Q(attempts=attempt, state__in=not_lower)
    )


def apply(transition: Transition) -> bool:
    """Apply one transition; False when the row is missing, final or newer."""
    values: dict[str, Any] = {
        "state": transition.state.value,
        "attempts": transition.attempt,
        **transition.fields,
    }
    if transition.state in READY_STATES:
        values.setdefault("finished_at", transition.at)
    updated = (
        Job.objects.filter(pk=transition.job_id)
        .filter(replace_condition(transition.state, transition.attempt))
        .update(**values)
    )
    return bool(updated)


def revoke(job_id: str, at: datetime, reason: str) -> bool:
    """Make a job REVOKED whatever attempt it is at, unless it is final already.

    A person's cancel wins over any non-final state of any attempt, which
    the attempt-ordered rule above would not allow for a newer attempt.
    """
    return bool(
        Job.objects.filter(pk=job_id)
        .exclude(state__in=FINAL_VALUES)
        .update(state=State.REVOKED.value, finished_at=at, error=reason[:1000])
    )
