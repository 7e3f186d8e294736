"""Frankfurter look-alike: ``/latest`` and ``/{start}..{end}`` with base and symbols.

Rates are a smooth, repeatable walk around typical euro reference rates,
published on working days only (no rates on weekends, as at the ECB).

Triggers: currency codes in ISO 4217's ``X`` range, which no national
currency uses, in ``base`` or ``symbols``: XNF (404), XRL (429 with
seconds), XRD (429 with an HTTP-date), XFL (503 once), XDN (502 always),
XSL (slow once), XRR (redirect), XMF (malformed). The key is base plus
symbols, so all chunks of one job share it; any other X-code is a made-up
currency with rates, so ``["XRL", "XAB"]`` and ``["XRL", "XAC"]`` are two keys.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib

from .core import Fault, FaultBook, Request, Response, delayed, json_error

EURO_RATES = {
    "EUR": 1.0,
    "USD": 1.09,
    "GBP": 0.86,
    "JPY": 158.2,
    "CHF": 0.96,
    "CAD": 1.48,
    "AUD": 1.64,
    "NZD": 1.79,
    "CNY": 7.84,
    "HKD": 8.5,
    "SGD": 1.46,
    "KRW": 1465.0,
    "INR": 90.6,
    "IDR": 17250.0,
    "MYR": 5.08,
    "PHP": 62.4,
    "THB": 39.3,
    "SEK": 11.45,
    "NOK": 11.62,
    "DKK": 7.46,
    "ISK": 150.2,
    "PLN": 4.31,
    "CZK": 25.1,
    "HUF": 392.0,
    "RON": 4.97,
    "BGN": 1.9558,
    "TRY": 35.1,
    "ILS": 4.02,
    "ZAR": 20.1,
    "BRL": 5.61,
    "MXN": 19.4,
}
"""Typical prices of one euro (BGN is pegged, so it never moves)."""

TRIGGERS = {
    "XNF": Fault.NOT_FOUND,
    "XRL": Fault.RATE_LIMITED,
    "XRD": Fault.RATE_LIMITED_DATE,
    "XFL": Fault.FLAKY,
    "XDN": Fault.DOWN,
    "XSL": Fault.SLOW,
    "XRR": Fault.REDIRECT,
    "XMF": Fault.MALFORMED,
}

EPOCH = dt.date(1999, 1, 4)


def euro_rate(code: str, day: dt.date) -> float:
    base = EURO_RATES.get(code, 1.0)
    if code in ("EUR", "BGN"):
        return base
    t = (day - EPOCH).days
    phase = zlib.crc32(code.encode()) % 628 / 100
    drift = 0.06 * math.sin(t / 400 + phase) + 0.02 * math.sin(t / 37 + 2 * phase)
    wiggle = 0.004 * math.sin(t * 1.7 + phase)
    return base * math.exp(drift + wiggle)


def _round(value: float) -> float:
    # Frankfurter gives five significant figures.
    return float(f"{value:.5g}")


def _working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days = (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5]


def _last_working_day(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _rates(base: str, symbols: list[str], day: dt.date) -> dict[str, float]:
    b = euro_rate(base, day)
    return {s: _round(euro_rate(s, day) / b) for s in symbols if s != base}


def _known(code: str) -> bool:
    # Other X-codes are made-up currencies, so tests can build fresh fault keys.
    return code in EURO_RATES or (code.startswith("X") and code != "XNF")


def _parse(request: Request, faults: FaultBook) -> tuple[str, list[str], Response | None]:
    base = request.query.get("base", "EUR").upper()
    raw = request.query.get("symbols", "")
    symbols = [s.upper() for s in raw.split(",") if s] or sorted(EURO_RATES)
    fault = next((TRIGGERS[c] for c in [base, *symbols] if c in TRIGGERS), None)
    failure = faults.play(fault, f"exchange:{base}:{','.join(symbols)}", request)
    if failure is not None and failure.status:
        return base, symbols, failure
    if fault is Fault.NOT_FOUND or not all(_known(c) for c in [base, *symbols]):
        return base, symbols, delayed(json_error(404, "not found"), failure)
    return base, symbols, failure


def latest(request: Request, faults: FaultBook) -> Response:
    base, symbols, failure = _parse(request, faults)
    if failure is not None and failure.status:
        return failure
    day = _last_working_day(dt.datetime.now(dt.UTC).date())
    body = {
        "amount": 1.0,
        "base": base,
        "date": day.isoformat(),
        "rates": _rates(base, symbols, day),
    }
    return delayed(Response(200, body), failure)


def series(request: Request, faults: FaultBook) -> Response:
    span = request.segments[0]
    try:
        first, last = (dt.date.fromisoformat(p) for p in span.split("..", 1))
    except ValueError:
        return json_error(404, "not found")
    base, symbols, failure = _parse(request, faults)
    if failure is not None and failure.status:
        return failure
    today = dt.datetime.now(dt.UTC).date()
    days = _working_days(max(first, EPOCH), min(last, today))
    body = {
        "amount": 1.0,
        "base": base,
        "start_date": days[0].isoformat() if days else first.isoformat(),
        "end_date": days[-1].isoformat() if days else last.isoformat(),
        "rates": {d.isoformat(): _rates(base, symbols, d) for d in days},
    }
    return delayed(Response(200, body), failure)


def route(request: Request, faults: FaultBook) -> Response:
    if request.segments == ["latest"]:
        return latest(request, faults)
    if len(request.segments) == 1 and ".." in request.segments[0]:
        return series(request, faults)
    return json_error(404, "not found")
