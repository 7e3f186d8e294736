"""Crontab schedules: the minutes of wall-clock time a five-field expression names.

``Crontab("*/15 9-17 * * 1-5")``: minute, hour, day of month, month, day of
week (0 or 7 is Sunday), as in cron and Celery's ``crontab``. Each field is
``*``, a value, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list
of those.

Days follow cron's rule: when both day fields are restricted (neither
starts with ``*``), a day matches if EITHER matches ("0 0 1,15 * 1": the
1st, the 15th and every Monday); when one is ``*``, only the other
applies. (As in Vixie cron, a field that merely starts with ``*``, such as
``*/2``, makes the two combine with AND.)

An expression that can never fire (``0 0 31 2 *``: February has no 31st)
is refused when it is built, with a :class:`ConfigurationError` that says
why, so a schedule saved in admin or in code fails at once instead of
never running.

:meth:`Crontab.last_tick` computes the latest matching minute from the
fields (months outside the set are skipped whole, then days, then the
latest hour and minute of the day), so it costs well under a millisecond
even for a leap-day crontab, whose previous match may lie eight years back.

Time zones: a crontab reads the wall clock of its ``tz`` (an IANA name such
as ``"Europe/Paris"``); None means the app's ``timezone`` setting, which
beat applies (:meth:`Crontab.in_timezone`), and UTC when used alone. Across
a daylight-saving change each wall-clock time fires once: a time the clocks
skip (02:30 when they jump from 02:00 to 03:00) fires at the jump, and a
time they repeat fires at its first occurrence, as cron does for fixed
times.
"""

from __future__ import annotations

import calendar
import copy
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .exceptions import ConfigurationError

LOOKBACK_YEARS = 400
"""The bound of :meth:`Crontab.last_tick`'s search, never reached by an
expression the constructor accepts: the Gregorian calendar repeats every
400 years, so one that ever matches matches within it. Most match within a
year; "0 0 29 2 *" within eight (2096, then 2104), and a date on a given
weekday ("0 0 29 2 */7", AND-combined) within a few decades."""

LONGEST_REPEAT = 3 * 3600
"""Seconds of the longest stretch of wall-clock time a zone repeats when its
clocks go back (one hour nearly everywhere; two in a few historical cases)."""

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_LONGEST_MONTH = {m: calendar.monthrange(2000, m)[1] for m in range(1, 13)}
"""Days of each month in a leap year (2000): the most it ever has."""

_EPOCH = datetime(1970, 1, 1)
"""Naive wall-clock times are handled as seconds since this (naive) instant."""


def zone(name: str | tzinfo) -> tzinfo:
    """The time zone named ``name`` (IANA), or ``name`` itself if it is one."""
    if isinstance(name, tzinfo):
        return name
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None


class Crontab:
    """``crontab("*/15 9-17 * * 1-5")``: minute hour day-of-month month day-of-week,
    on the wall clock of ``tz`` (None: the app's ``timezone``, else UTC)."""

    def __init__(self, expression: str, tz: str | tzinfo | None = None) -> None:
        parts = expression.split()
        if len(parts) != 5:
            raise ConfigurationError(f"crontab {expression!r}: expected 5 fields")
        self.expression = expression
        self.tz: tzinfo | None = None if tz is None else zone(tz)
        minutes, hours, days, months, weekdays = (
            _parse_field(text, name, lo, hi, expression)
            for text, (name, lo, hi) in zip(parts, _FIELDS, strict=True)
        )
        self.minutes = frozenset(minutes)
        self.hours = frozenset(hours)
        self.days = frozenset(days)
        self.months = frozenset(months)
        self.weekdays = frozenset(d % 7 for d in weekdays)  # 7 is Sunday too, as in cron
        # Vixie cron's rule: both day fields restricted -> OR; a field that
        # starts with '*' (even '*/2') -> AND (so a bare '*' leaves the other).
        self.any_day = parts[2].startswith("*")
        self.any_weekday = parts[4].startswith("*")
        self._minutes_desc = sorted(self.minutes, reverse=True)
        self._hours_desc = sorted(self.hours, reverse=True)
        self._refuse_impossible()

    def in_timezone(self, tz: str | tzinfo) -> Crontab:
        """This crontab on the wall clock of ``tz`` (a copy; self is unchanged)."""
        clone = copy.copy(self)
        clone.tz = zone(tz)
        return clone

    def matches(self, t: float) -> bool:
        """Whether the minute of epoch seconds ``t`` (wall clock of ``tz``) is one named."""
        if self.tz is not None and self.tz is not UTC:
            t = _wall(t, self.tz)
        tm = time.gmtime(t)
        return (
            tm.tm_min in self.minutes
            and tm.tm_hour in self.hours
            and tm.tm_mon in self.months
            and self._day_matches(date(tm.tm_year, tm.tm_mon, tm.tm_mday))
        )

    def last_tick(self, now: float) -> float:
        """The latest matching whole minute at or before ``now`` (epoch seconds).

        Computed, not scanned minute by minute; always found for an
        expression the constructor accepted (0.0 means none within
        :data:`LOOKBACK_YEARS`, which cannot happen then)."""
        tz = self.tz
        if tz is None or tz is UTC:
            return self._last_wall_tick(now)
        # Wall-clock candidates, newest first, from the latest wall time any
        # instant up to now can show: inside a repeated hour (clocks set
        # back) that is the earlier, larger offset's. Outside a change the
        # first candidate is the answer; around one, a few are skipped.
        offsets = (_offset(tz, now), _offset(tz, now - LONGEST_REPEAT))
        wall = _wall_floor(now + max(offsets))
        while wall > 0:
            candidate = self._last_wall_tick(wall)
            if candidate == 0.0:
                return 0.0
            instant = _instant(candidate, tz)
            if instant <= now:
                return instant
            wall = candidate - 60
        return 0.0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Crontab)
            and (self.minutes, self.hours, self.days, self.months, self.weekdays, self.tz)
            == (other.minutes, other.hours, other.days, other.months, other.weekdays, other.tz)
            and (self.any_day, self.any_weekday) == (other.any_day, other.any_weekday)
        )

    def __hash__(self) -> int:
        return hash((self.minutes, self.hours, self.days, self.months, self.weekdays))

    def _last_wall_tick(self, now: float) -> float:
        """:meth:`last_tick` on a clock without changes (UTC, or naive wall time)."""
        latest = datetime.fromtimestamp(now - now % 60, tz=UTC)
        today = latest.date()
        for day in self._days_back(today):
            # Today only up to now; any earlier day up to its last minute.
            hour_limit, minute_limit = (latest.hour, latest.minute) if day == today else (23, 59)
            at = self._latest_time(hour_limit, minute_limit)
            if at is not None:
                return float(calendar.timegm((day.year, day.month, day.day, *at, 0)))
        return 0.0

    def __repr__(self) -> str:
        zone_text = "" if self.tz is None else f", tz={str(self.tz)!r}"
        return f"crontab({self.expression!r}{zone_text})"

    def _day_matches(self, day: date) -> bool:
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays  # Python's Monday is 0
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays  # a bare '*' is every day: the other decides
        return in_days or in_weekdays  # both restricted: either, as in cron

    def _days_back(self, today: date) -> Iterator[date]:
        """Matching days, newest first, from ``today`` back over LOOKBACK_YEARS;
        a month outside the set costs one step, not a step per day."""
        year, month, first = today.year, today.month, today.day
        for _ in range((LOOKBACK_YEARS + 1) * 12):
            if month in self.months:
                for d in range(min(first, calendar.monthrange(year, month)[1]), 0, -1):
                    day = date(year, month, d)
                    if self._day_matches(day):
                        yield day
            first = 31
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
            if year < 1:
                return

    def _latest_time(self, hour_limit: int, minute_limit: int) -> tuple[int, int] | None:
        """The latest (hour, minute) of the sets at or before the limit."""
        for hour in self._hours_desc:
            if hour > hour_limit:
                continue
            cap = minute_limit if hour == hour_limit else 59
            for minute in self._minutes_desc:
                if minute <= cap:
                    return hour, minute
        return None

    def _refuse_impossible(self) -> None:
        # Every valid date falls on every weekday over the years, and a
        # '*'-led day-of-month field holds the 1st: so only restricted days
        # of month under a '*'-led day of week can make the expression name
        # no date at all (with both restricted, OR: any weekday will do).
        if self.any_day or not self.any_weekday:
            return
        if any(d <= _LONGEST_MONTH[m] for m in self.months for d in self.days):
            return
        months = _joined([calendar.month_name[m] for m in sorted(self.months)], "and")
        days = _joined([str(d) for d in sorted(self.days)], "or")
        has = "has" if len(self.months) == 1 else "have"
        raise ConfigurationError(
            f"crontab {self.expression!r} never fires: {months} {has} no day {days}"
        )


crontab = Crontab
"""Celery's spelling."""


def _offset(tz: tzinfo, t: float) -> float:
    """Seconds ``tz`` is ahead of UTC at epoch seconds ``t``."""
    offset = datetime.fromtimestamp(t, tz=UTC).astimezone(tz).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _wall(t: float, tz: tzinfo) -> float:
    """The wall-clock time of instant ``t`` in ``tz``, as naive epoch seconds."""
    return t + _offset(tz, t)


def _wall_floor(t: float) -> float:
    return t - t % 60


def _instant(wall: float, tz: tzinfo) -> float:
    """The instant a wall-clock minute of ``tz`` fires: its first occurrence
    when the clocks repeat it; the end of the jump when they skip it."""
    naive = _EPOCH + timedelta(seconds=wall)
    for _ in range(48 * 60):  # the longest jumps on record skipped one day
        local = naive.replace(tzinfo=tz, fold=0)
        utc = local.astimezone(UTC)
        if utc.astimezone(tz).replace(tzinfo=None) == naive:
            return utc.timestamp()
        naive += timedelta(minutes=1)  # skipped: the first minute that exists
    raise ConfigurationError(f"time zone {tz} skips more than two days at {naive}")


def _parse_field(text: str, name: str, lo: int, hi: int, expression: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = lo, hi
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(base)
        except ValueError:
            raise ConfigurationError(
                f"crontab {expression!r}: {name} {item!r} is not a number, range or step"
            ) from None
        if not (lo <= start <= end <= hi) or step < 1:
            raise ConfigurationError(f"crontab {expression!r}: {name} {item!r} out of {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return values


def _joined(words: list[str], conjunction: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
