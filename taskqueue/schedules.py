"""Celery's schedule objects for beat: ``crontab(...)`` and ``schedule(...)``.

``crontab(minute=0, hour="*/3", day_of_week="mon-fri")`` takes Celery's
keyword names and builds a :class:`taskqueue.crontab.Crontab` (five cron
fields, on the wall clock of the app's ``timezone`` setting), so beat
accepts it wherever it accepts a crontab. A field is
a number, a cron string (``"*/15"``, ``"1-5"``, ``"0,30"``) or a list of
numbers; ``day_of_week`` also takes day names (``"mon-fri"``, ``"sun"``).

``schedule(run_every=timedelta(minutes=5))`` is an interval: a number of
seconds, as beat takes them (``schedule(30)`` works too).

Celery's ``solar`` (sunrise and sunset schedules) is not supported.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from .crontab import Crontab
from .exceptions import ConfigurationError

__all__ = ["crontab", "schedule"]

Field = int | str | Iterable[int]
"""What a crontab field accepts."""

_DAY_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("sun", "sunday"),
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
        ]
    )
    for name in names
}
_DAY_NAME = re.compile(r"[a-z]+", re.IGNORECASE)


class crontab(Crontab):  # noqa: N801 - Celery's name
    """A cron schedule from Celery's keyword arguments (in the app's ``timezone``)."""

    def __init__(
        self,
        minute: Field = "*",
        hour: Field = "*",
        day_of_week: Field = "*",
        day_of_month: Field = "*",
        month_of_year: Field = "*",
    ) -> None:
        fields = [
            _field(minute, "minute"),
            _field(hour, "hour"),
            _field(day_of_month, "day_of_month"),
            _field(month_of_year, "month_of_year"),
            _day_numbers(_field(day_of_week, "day_of_week")),
        ]
        super().__init__(" ".join(fields))

    def __repr__(self) -> str:
        return f"<crontab: {self.expression}>"


def _field(value: Field, name: str) -> str:
    if isinstance(value, bool):
        raise ConfigurationError(f"crontab {name}={value!r}: expected a number or a cron field")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.replace(" ", "")
        if not text:
            raise ConfigurationError(f"crontab {name} is empty")
        return text
    numbers = sorted(set(value))
    if not numbers or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise ConfigurationError(f"crontab {name}={value!r}: expected numbers")
    return ",".join(str(n) for n in numbers)


def _day_numbers(text: str) -> str:
    """``mon-fri`` -> ``1-5``: Celery's day names as cron's numbers (0 is Sunday)."""

    def number(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if word not in _DAY_NAMES:
            raise ConfigurationError(f"crontab day_of_week: unknown day {match.group(0)!r}")
        return str(_DAY_NAMES[word])

    return _DAY_NAME.sub(number, text)


class schedule(float):  # noqa: N801 - Celery's name
    """An interval schedule: ``schedule(run_every=timedelta(seconds=30))``.

    A float of seconds, so beat takes it wherever it takes a number."""

    def __new__(cls, run_every: float | dt.timedelta) -> schedule:
        seconds = run_every.total_seconds() if isinstance(run_every, dt.timedelta) else run_every
        if seconds <= 0:
            raise ConfigurationError(f"schedule run_every={run_every!r}: must be positive")
        return super().__new__(cls, seconds)

    @property
    def run_every(self) -> dt.timedelta:
        return dt.timedelta(seconds=float(self))

    @property
    def seconds(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return f"<freq: {self.run_every}>"
