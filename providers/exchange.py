"""Exchange rates: latest or a daily series, with statistics, from Frankfurter.

Frankfurter publishes the European Central Bank's reference rates:
``GET /latest?base=&symbols=`` and ``GET /{start}..{end}?base=&symbols=``
(working days only). A long range is fetched in chunks of CHUNK_DAYS, so
each response stays small and progress moves once per chunk.

Currency codes are checked for their ISO 4217 form only, not against a fixed
list: the ECB adds and drops currencies, and Frankfurter's 404 for an
unknown code becomes a clear "not found" error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from providers.settings import ProviderSettings

from .base import Provider
from .http import ClientPool, Endpoint, Progress, UpstreamClient, malformed
from .schema import Check, FieldError, Schema, params_object, today

FIRST_DAY = dt.date(1999, 1, 4)
"""The first day the ECB published euro reference rates."""

CHUNK_DAYS = 90
"""Days per request for a range: about 63 working days, a few KB of JSON."""

MAX_RANGE_DAYS = 3660
"""About ten years: 41 requests, a series of ~2,600 points per currency."""

COMMON = ("EUR", "USD", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "SEK", "NOK", "PLN")
"""Offered as suggestions in the form; any ISO 4217 code is accepted."""


def _currency(**annotations: Any) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 3,
        "maxLength": 3,
        "pattern": "^[A-Z]{3}$",
        "format": "iso-4217",
        "x-messages": {"pattern": "must be an ISO 4217 currency code in capitals, such as USD"},
        **annotations,
    }


def _day(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "format": "date",
        "description": description,
        "formatMinimum": FIRST_DAY.isoformat(),
        "x-notAfterToday": True,
    }


def _range_rules(params: dict[str, Any]) -> Iterable[FieldError]:
    start, end = params["start"], params["end"]
    if end is not None and start is None:
        yield FieldError("end", "requires", "give start too (without dates: latest rates)")
    if start is not None and end is not None:
        if start > end:
            yield FieldError("end", "order", "must not be before start")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            yield FieldError(
                "end", "max_range", f"the range may span at most {MAX_RANGE_DAYS} days"
            )
    if start is not None and end is None and (today() - start).days + 1 > MAX_RANGE_DAYS:
        yield FieldError("start", "max_range", f"the range may span at most {MAX_RANGE_DAYS} days")
    if params["symbols"] and params["base"] in params["symbols"]:
        yield FieldError("symbols", "not_base", "must not include the base currency")


SCHEMA = Schema(
    params_object(
        {
            "base": _currency(
                default="EUR", description="Rates are prices of one unit of this currency"
            ),
            "symbols": {
                "type": "array",
                "description": "Target currencies (all available when empty)",
                "examples": [["USD", "GBP"]],
                "items": _currency(),
                "maxItems": 20,
                "uniqueItems": True,
            },
            "start": _day("First day of a historical series; without it, the latest rates"),
            "end": _day("Last day of the series (default today)"),
        }
    ),
    checks=[
        Check(
            f"end requires start; start <= end; at most {MAX_RANGE_DAYS} days; "
            "symbols exclude base",
            _range_rules,
        )
    ],
)


def chunks(
    start: dt.date, end: dt.date, days: int = CHUNK_DAYS
) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive, non-overlapping [first, last] ranges covering start..end."""
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=days - 1), end)
        yield first, last
        first = last + dt.timedelta(days=1)


def statistics(series: list[dict[str, Any]], symbols: Iterable[str]) -> dict[str, Any]:
    """Per currency: first, last, min, max (with dates), mean and change."""
    stats: dict[str, Any] = {}
    for symbol in symbols:
        points = [(p["date"], p["rates"][symbol]) for p in series if symbol in p["rates"]]
        if not points:
            continue
        low = min(points, key=lambda p: p[1])
        high = max(points, key=lambda p: p[1])
        first, last = points[0][1], points[-1][1]
        stats[symbol] = {
            "points": len(points),
            "first": first,
            "last": last,
            "min": low[1],
            "min_date": low[0],
            "max": high[1],
            "max_date": high[0],
            "mean": round(sum(v for _, v in points) / len(points), 6),
            "change": round(last - first, 6),
            "change_pct": round(100 * (last - first) / first, 4) if first else None,
        }
    return stats


def _query(params: dict[str, Any]) -> dict[str, str]:
    query = {"base": params["base"]}
    if params["symbols"]:
        query["symbols"] = ",".join(params["symbols"])
    return query


def _not_found(params: dict[str, Any]) -> str:
    targets = ", ".join(params["symbols"]) if params["symbols"] else "any currency"
    return f"no exchange rates for {params['base']} against {targets} (unknown currency code?)"


def _rates(data: Any, service: str) -> dict[str, Any]:
    rates = data.get("rates") if isinstance(data, dict) else None
    if not isinstance(rates, dict):
        raise malformed(service, "an answer without rates")
    return rates


def execute(
    params: dict[str, Any],
    progress: Progress,
    config: ProviderSettings,
    pool: ClientPool | None = None,
) -> dict[str, Any]:
    client = UpstreamClient(
        Endpoint("Frankfurter", config.exchange_url, config.timeout, config.connect_timeout), pool
    )
    query, not_found = _query(params), _not_found(params)
    series: list[dict[str, Any]]
    if params["start"] is None:
        reply = client.get_json(("latest",), query, not_found=not_found)
        day = reply.data.get("date") if isinstance(reply.data, dict) else None
        series = [{"date": day, "rates": _rates(reply.data, client.service)}]
        start = end = day
        progress(1, 1, f"latest rates of {day}")
    else:
        first, last = params["start"], params["end"] or today()
        parts = list(chunks(first, last))
        by_day: dict[str, dict[str, float]] = {}
        for index, (a, b) in enumerate(parts, start=1):
            reply = client.get_json(
                (f"{a.isoformat()}..{b.isoformat()}",), query, not_found=not_found
            )
            days = _rates(reply.data, client.service)
            # Frankfurter may open a range with the last working day before it;
            # chunks overlap there, and a dict keeps each day once.
            by_day.update(days)
            progress(index, len(parts), f"{a.isoformat()}..{b.isoformat()}: {len(days)} days")
        series = [{"date": d, "rates": by_day[d]} for d in sorted(by_day)]
        start, end = first.isoformat(), last.isoformat()
    symbols = params["symbols"] or sorted({s for p in series for s in p["rates"]})
    return {
        "provider": "exchange",
        "mode": "latest" if params["start"] is None else "range",
        "base": params["base"],
        "symbols": symbols,
        "start": start,
        "end": end,
        "series": series,
        "stats": statistics(series, symbols),
    }


PROVIDER = Provider(
    name="exchange",
    title="Exchange rates",
    description="Latest rates, or a daily series with min/max/change statistics, for a base "
    "currency against targets (ECB reference rates via Frankfurter).",
    schema=SCHEMA,
    execute=execute,
)
run = PROVIDER.run
