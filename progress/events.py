"""Job events as the framework publishes them, and the order that keeps views monotonic.

The worker's Lua script PUBLISHes one JSON object per applied state change
on ``<key_prefix>:events``: ``{"id", "state", "attempt", "task", "ts",
"payload"}``. Redis applies and publishes in one atomic step, so the events
of one job arrive in the order they were stored.

A subscriber that joins late gets a snapshot first (read from Redis or the
row) while live events may already be queued behind it. Both carry an
:class:`Order` key, ``(attempt, state rank, timestamp)``; a subscriber drops
anything not newer than what it last sent (:func:`is_newer`), so a
snapshot and a racing event never make a view go backwards or repeat.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from taskqueue.states import PRECEDENCE, READY_STATES, State


class Order(NamedTuple):
    """Sort key of a job's states: a newer attempt, a higher rank, a later write."""

    attempt: int
    rank: int
    ts: float


BEFORE_ALL = Order(-1, -1, -math.inf)
"""Older than any real state: what a subscriber has 'sent' before its first event."""


_PROGRESS_RANK = PRECEDENCE[State.PROGRESS]


def is_newer(new: Order, last: Order) -> bool:
    """Whether a view at ``new`` tells the subscriber something after ``last``.

    A state repeated within an attempt says nothing new (the worker and a
    task may both store STARTED), so only PROGRESS, whose payload changes,
    is compared down to the timestamp.
    """
    if new.rank == _PROGRESS_RANK:
        return new > last
    return (new.attempt, new.rank) > (last.attempt, last.rank)


def rank(state: State) -> int:
    return PRECEDENCE.get(state, PRECEDENCE[State.PROGRESS])


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One applied state change of one job."""

    job_id: str
    state: State
    attempt: int
    ts: float
    task: str
    payload: Any

    @classmethod
    def decode(cls, raw: bytes | str) -> JobEvent | None:
        """The event in ``raw``, or None when it is not one (never raises)."""
        try:
            data = json.loads(raw)
            return cls(
                job_id=str(data["id"]),
                state=State(data["state"]),
                attempt=int(data["attempt"]),
                ts=float(data["ts"]),
                task=str(data.get("task") or ""),
                payload=data.get("payload"),
            )
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def order(self) -> Order:
        return Order(self.attempt, rank(self.state), self.ts)

    @property
    def is_final(self) -> bool:
        return self.state in READY_STATES

    @property
    def is_progress(self) -> bool:
        return self.state == State.PROGRESS

    def meta(self) -> dict[str, str]:
        """The event in the shape of the framework's Redis hash (what jobs.live reads)."""
        return {
            "state": self.state.value,
            "attempt": str(self.attempt),
            "updated_at": repr(self.ts),
            "payload": json.dumps(self.payload, separators=(",", ":"), default=repr),
        }


def order_of_meta(meta: dict[str, str]) -> Order | None:
    """The order key of a job's record as :meth:`StateStore.read` returns it."""
    try:
        state = State(meta["state"])
        return Order(int(meta.get("attempt") or 0), rank(state), float(meta.get("updated_at") or 0))
    except (KeyError, ValueError):
        return None
