"""How a raw setting value becomes a typed one: one rule per type, any source.

Every source (environment variables, a settings object, keyword arguments)
goes through the same rule, so ``"false"`` is False whether it comes from
the shell or from Django's settings, and ``"6"`` is 6 for an integer field.
A rule returns the converted value or raises ``ValueError`` whose message
says what was expected; :mod:`taskqueue.config` adds the setting's name and
source and reports every bad field at once.

Rules are idempotent: converting an already converted value returns it
unchanged, which lets ``Settings`` re-check itself when built directly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

Rule = Callable[[Any], Any]
"""Converts a raw value to its field's type or raises ValueError(expectation)."""

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

_KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]*")
"""Characters Kafka allows in a topic name (prefixes and queues become topic names)."""


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # 0 and 1 are what "0" and "1" mean as text; any other number is a mistake.
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError("expected a boolean (true/1/yes/on or false/0/no/off)")


def to_int(value: Any) -> int:
    # bool is an int subclass: partitions=True is a mistake, not 1.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError("expected an integer")


def to_float(value: Any) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise ValueError("expected a number")
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("expected text")


def to_object(value: Any) -> dict[str, Any]:
    """A mapping, or its JSON text (how a dict fits in an environment variable)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("expected a JSON object") from None
    if not isinstance(value, Mapping):
        raise ValueError("expected a JSON object")
    if not all(isinstance(key, str) for key in value):
        raise ValueError("expected text keys")
    return dict(value)


def checked(rule: Rule, test: Callable[[Any], bool], requirement: str) -> Rule:
    """``rule`` followed by a check of the converted value."""

    def convert(value: Any) -> Any:
        converted = rule(value)
        if not test(converted):
            raise ValueError(requirement)
        return converted

    return convert


def at_least(rule: Rule, minimum: float) -> Rule:
    return checked(rule, lambda v: v >= minimum, f"must be at least {minimum}")


def positive(rule: Rule) -> Rule:
    return checked(rule, lambda v: v > 0, "must be more than 0")


def between(rule: Rule, low: int, high: int) -> Rule:
    return checked(rule, lambda v: low <= v <= high, f"must be {low} to {high}")


def one_of(*choices: str) -> Rule:
    return checked(to_text, lambda v: v in choices, f"expected one of {', '.join(choices)}")


def kafka_name(*, empty_ok: bool) -> Rule:
    """Text that can be (part of) a Kafka topic name."""
    return checked(
        to_text,
        lambda v: bool(_KAFKA_NAME.fullmatch(v)) and (empty_ok or v != ""),
        ("may" if empty_ok else "must be non-empty and may")
        + " contain only letters, digits, '.', '_' and '-' (it names Kafka topics)",
    )


def url(*schemes: str, empty_ok: bool = False) -> Rule:
    """A URL with one of ``schemes`` and a host (``memory``/``unix`` need none)."""

    def convert(value: Any) -> str:
        text = to_text(value)
        if empty_ok and text == "":
            return text
        try:
            parts = urlsplit(text)
        except ValueError as exc:
            raise ValueError(f"not a URL ({exc})") from None
        if parts.scheme not in schemes:
            raise ValueError(f"scheme must be one of {', '.join(s + '://' for s in schemes)}")
        if parts.scheme not in ("memory", "unix") and not parts.netloc:
            raise ValueError("no host given")
        return text

    return convert


def delay_tiers(value: Any) -> tuple[float, ...]:
    """Seconds of each delay tier, ascending and unique.

    Accepts ``"1,5,30"``, JSON ``"[1, 5, 30]"`` or a sequence of numbers.
    Sub-second tiers (``0.2``) are allowed, in whole milliseconds, because
    tier topics are named by milliseconds below a second (``delay.200ms``).
    """
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise ValueError("expected a JSON list of seconds") from None
        else:
            items = [part for part in text.split(",") if part.strip()]
    if not isinstance(items, list | tuple):
        raise ValueError("expected seconds separated by commas, e.g. 1,5,30")
    tiers = set()
    for item in items:
        try:
            seconds = to_float(item)
        except ValueError:
            raise ValueError(f"tier {item!r} is not a number of seconds") from None
        if seconds <= 0:
            raise ValueError(f"tier {item!r} must be more than 0 seconds")
        if round(seconds, 3) != seconds:
            raise ValueError(f"tier {item!r} must be whole milliseconds")
        tiers.add(seconds)
    if not tiers:
        raise ValueError("expected at least one tier, e.g. 1,5,30")
    return tuple(sorted(tiers))


def queue_weights(value: Any) -> dict[str, int]:
    """Polling weight per queue: a mapping, JSON text or ``"high=6,default=3"``."""
    pairs: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            pairs = to_object(text)
        else:
            pairs = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                queue, sep, weight = part.partition("=")
                if not sep:
                    raise ValueError(f"{part!r}: expected queue=weight, e.g. high=6,default=3")
                pairs[queue.strip()] = weight
    if not isinstance(pairs, Mapping):
        raise ValueError("expected a mapping of queue to weight, e.g. high=6,default=3")
    weights = {}
    for queue, weight in pairs.items():
        if not isinstance(queue, str) or not queue:
            raise ValueError(f"queue name {queue!r}: expected non-empty text")
        try:
            weights[queue] = to_int(weight)
        except ValueError:
            raise ValueError(f"weight of {queue!r} ({weight!r}) is not an integer") from None
        if weights[queue] < 1:
            raise ValueError(f"weight of {queue!r} must be at least 1")
    return weights
