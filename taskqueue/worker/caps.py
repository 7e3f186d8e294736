"""Size caps on what an attempt leaves behind: result, error, traceback.

A result, error message or traceback is stored in MongoDB (16 MiB per
document), written to Redis, copied into follow-up messages and dead-letter
headers. One task that returns or raises something huge must cost its own
job, never the worker: an oversized result fails its job with an error that
names the cap (no retry can shrink it), and an oversized error message or
traceback is cut with a marker that says how much was dropped.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from ..states import FAILURE

if TYPE_CHECKING:
    from ..config import Settings
    from .execute import Outcome

RESULT_TOO_LARGE = "ResultTooLarge"
"""``error.exc_type`` of a job whose result is over ``result_max_bytes``."""


def oversized_result(value: Any, limit: int) -> str | None:
    """Why ``value`` cannot be a result (its JSON is over ``limit`` bytes), or None.

    Raises ``TypeError``/``ValueError`` for a value JSON cannot encode.
    """
    # ensure_ascii (the default): one character is one byte.
    size = len(json.dumps(value))
    if size <= limit:
        return None
    return (
        f"result is {size} bytes of JSON, over the limit of {limit} "
        "(setting result_max_bytes); store large data elsewhere and return a reference"
    )


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its head, a marker, its tail.

    The tail is kept too: the end of a traceback is where the error is.
    """
    if len(text) <= limit:
        return text
    marker = f"\n... [{len(text) - limit} characters cut] ...\n"
    room = max(limit - len(marker), 0)
    head = room // 2
    return text[:head] + marker + text[len(text) - (room - head) :]


def capped(outcome: Outcome, settings: Settings) -> Outcome:
    """``outcome`` with its error message and traceback within their caps."""
    error, traceback = outcome.error, outcome.traceback
    changes: dict[str, Any] = {}
    message = (error or {}).get("exc_message")
    if error is not None and isinstance(message, str) and len(message) > settings.error_max_chars:
        changes["error"] = {**error, "exc_message": cut(message, settings.error_max_chars)}
    if traceback is not None and len(traceback) > settings.traceback_max_chars:
        changes["traceback"] = cut(traceback, settings.traceback_max_chars)
    return dataclasses.replace(outcome, **changes) if changes else outcome


def too_large(outcome: Outcome, reason: str) -> Outcome:
    """The FAILURE that replaces an attempt whose result is too large."""
    return dataclasses.replace(
        outcome,
        state=FAILURE.value,
        result=None,
        error={"exc_type": RESULT_TOO_LARGE, "exc_message": reason},
        traceback=None,
    )
