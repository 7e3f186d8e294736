"""Job states and the precedence rule that keeps them from regressing.

States are ``(str, Enum)`` so they serialize to JSON, GraphQL enums and the
UI unchanged.
"""

from __future__ import annotations

from enum import Enum


class State(str, Enum):  # noqa: UP042 - the (str, Enum) contract of DESIGN
    PENDING = "PENDING"
    RECEIVED = "RECEIVED"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"

    def __str__(self) -> str:
        return self.value


PENDING = State.PENDING
RECEIVED = State.RECEIVED
STARTED = State.STARTED
PROGRESS = State.PROGRESS
RETRY = State.RETRY
SUCCESS = State.SUCCESS
FAILURE = State.FAILURE
REVOKED = State.REVOKED

READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
"""Final states: once stored, nothing may replace them."""

EXCEPTION_STATES = frozenset({FAILURE, REVOKED, RETRY})

PRECEDENCE: dict[State, int] = {
    PENDING: 0,
    RECEIVED: 1,
    STARTED: 2,
    PROGRESS: 3,
    RETRY: 4,
    SUCCESS: 5,
    FAILURE: 5,
    REVOKED: 5,
}
"""Within one attempt a state may only move to an equal or higher rank.

The same table is used by the Redis Lua script (``stores/state_redis_scripts.py``)
so the store and the Python check can never disagree.
"""


def may_replace(current: State | None, current_attempt: int, new: State, new_attempt: int) -> bool:
    """Whether ``new`` (of ``new_attempt``) may overwrite ``current``.

    Final states never change. A newer attempt replaces anything non-final
    (a retry's RECEIVED follows the previous attempt's RETRY); an older
    attempt's late event never replaces a newer one. RETRY ends its
    attempt: nothing of that attempt replaces it (a redelivered copy would
    run the attempt again and publish a second next attempt). Within one
    attempt the rank must not go down, and only PROGRESS may repeat.
    """
    if current is None:
        return True
    if current in READY_STATES:
        return False
    if new_attempt != current_attempt:
        return new_attempt > current_attempt
    if current == RETRY:
        return False
    if new == current:
        return new == PROGRESS  # a repeated STARTED or RETRY is a duplicate
    return PRECEDENCE[new] >= PRECEDENCE[current]
