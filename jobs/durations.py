"""Human durations for command-line options: ``90s``, ``10m``, ``2h``, ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> timedelta:
    """``"10m"`` -> 10 minutes; a bare number is seconds. Raises ValueError."""
    match = _PATTERN.match(text or "")
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; use a number and a unit: 90s, 10m, 2h, 1d or 1w"
        )
    amount, unit = float(match.group(1)), match.group(2) or "s"
    return timedelta(seconds=amount * _UNITS[unit])
