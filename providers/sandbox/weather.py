"""Open-Meteo look-alike: geocoding ``/v1/search`` and forecast ``/v1/forecast``.

Forecast values are made up but plausible and repeatable: a seasonal curve
by latitude plus noise seeded by place and day, so the same request always
gets the same answer. Triggers: a place named ``sandbox-<fault>[-suffix]``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from typing import Any

from .core import Fault, FaultBook, Request, Response, delayed, parse_fault

_GAZETTEER = """
Lisbon | Portugal | Lisbon | 38.7167 | -9.1333 | 45.0 | Europe/Lisbon | 517802
Berlin | Germany | Land Berlin | 52.5244 | 13.4105 | 74.0 | Europe/Berlin | 3426354
Paris | France | Île-de-France | 48.8534 | 2.3488 | 42.0 | Europe/Paris | 2138551
London | United Kingdom | England | 51.5085 | -0.1257 | 25.0 | Europe/London | 8961989
Madrid | Spain | Madrid | 40.4165 | -3.7026 | 665.0 | Europe/Madrid | 3255944
Oslo | Norway | Oslo | 59.9127 | 10.7461 | 26.0 | Europe/Oslo | 580000
New York | United States | New York | 40.7143 | -74.006 | 10.0 | America/New_York | 8175133
Chicago | United States | Illinois | 41.85 | -87.65 | 179.0 | America/Chicago | 2720546
São Paulo | Brazil | São Paulo | -23.5475 | -46.6361 | 769.0 | America/Sao_Paulo | 10021295
Nairobi | Kenya | Nairobi Area | -1.2833 | 36.8167 | 1661.0 | Africa/Nairobi | 2750547
Mumbai | India | Maharashtra | 19.0728 | 72.8826 | 14.0 | Asia/Kolkata | 12691836
Singapore | Singapore |  | 1.2897 | 103.8501 | 15.0 | Asia/Singapore | 3547809
Tokyo | Japan | Tokyo | 35.6895 | 139.6917 | 44.0 | Asia/Tokyo | 8336599
Reykjavik | Iceland | Capital Region | 64.1355 | -21.8954 | 18.0 | Atlantic/Reykjavik | 118918
Mexico City | Mexico | Mexico City | 19.4285 | -99.1277 | 2240.0 | America/Mexico_City | 12294193
Cape Town | South Africa | Western Cape | -33.9258 | 18.4232 | 7.0 | Africa/Johannesburg | 3433441
Sydney | Australia | New South Wales | -33.8678 | 151.2073 | 58.0 | Australia/Sydney | 4627345
Auckland | New Zealand | Auckland | -36.8485 | 174.7633 | 26.0 | Pacific/Auckland | 417910
"""
"""name | country | admin1 | latitude | longitude | elevation | timezone | population"""

PLACES = [
    (n, c, a, float(lat), float(lon), float(el), tz, int(pop))
    for n, c, a, lat, lon, el, tz, pop in (
        (part.strip() for part in line.split("|")) for line in _GAZETTEER.strip().splitlines()
    )
]
"""A small gazetteer; any other name gets a made-up place (see _invented)."""

DAILY_UNITS = {
    "time": "iso8601",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
    "wind_speed_10m_max": "km/h",
}


def _invented(name: str) -> dict[str, Any]:
    """A repeatable place for names the gazetteer lacks (the real API knows millions)."""
    rng = random.Random(f"place:{name.lower()}")
    return _result(
        name.title(),
        "Sandboxia",
        "",
        round(rng.uniform(-55, 65), 4),
        round(rng.uniform(-170, 170), 4),
        float(rng.randint(0, 900)),
        "UTC",
        rng.randint(900, 90000),
    )


def _result(
    name: str,
    country: str,
    admin1: str,
    lat: float,
    lon: float,
    elevation: float,
    tz: str,
    population: int,
) -> dict[str, Any]:
    return {
        "id": zlib.crc32(f"{name}:{lat}:{lon}".encode()) % 10_000_000,
        "name": name,
        "latitude": lat,
        "longitude": lon,
        "elevation": elevation,
        "feature_code": "PPLC" if population > 1_000_000 else "PPL",
        "country_code": country[:2].upper(),
        "timezone": tz,
        "population": population,
        "country": country,
        "admin1": admin1,
    }


def search(request: Request, faults: FaultBook) -> Response:
    name = request.query.get("name", "").strip()
    if len(name) < 2:
        # Open-Meteo answers a too-short name with an empty result, not an error.
        return Response(200, {"generationtime_ms": 0.4})
    fault = parse_fault(name[len("sandbox-") :]) if name.lower().startswith("sandbox-") else None
    failure = faults.play(fault, f"weather:{name.lower()}", request)
    if failure is not None and failure.status:
        return failure
    if fault is Fault.NOT_FOUND or name.lower() in ("atlantis", "nowhere"):
        return delayed(Response(200, {"generationtime_ms": 0.3}), failure)
    match = [p for p in PLACES if p[0].lower() == name.lower()]
    result = _result(*match[0]) if match else _invented(name)
    return delayed(Response(200, {"results": [result], "generationtime_ms": 0.6}), failure)


def _day(lat: float, lon: float, day: dt.date) -> tuple[float, float, float, float]:
    rng = random.Random(f"wx:{lat:.2f}:{lon:.2f}:{day.isoformat()}")
    # Warmest around late July in the north, late January in the south.
    season = -math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)
    season = season if lat >= 0 else -season
    mean = 27 - 0.42 * abs(lat) + 0.22 * abs(lat) * season + rng.uniform(-3, 3)
    spread = rng.uniform(5, 11)
    wet = rng.random() < 0.35
    rain = round(rng.expovariate(1 / 6), 1) if wet else 0.0
    wind = round(rng.uniform(6, 24) + (10 if wet else 0) * rng.random(), 1)
    return round(mean + spread / 2, 1), round(mean - spread / 2, 1), rain, wind


def forecast(request: Request, faults: FaultBook) -> Response:
    q = request.query
    try:
        lat, lon = float(q["latitude"]), float(q["longitude"])
        past, ahead = int(q.get("past_days", "0")), int(q.get("forecast_days", "7"))
    except (KeyError, ValueError):
        return Response(400, {"error": True, "reason": "Parameter latitude/longitude missing"})
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Response(400, {"error": True, "reason": "Latitude must be in range of -90 to 90°."})
    if not (0 <= past <= 92 and 0 <= ahead <= 16):
        return Response(400, {"error": True, "reason": "Invalid past_days or forecast_days"})
    today = dt.datetime.now(dt.UTC).date()
    days = [today + dt.timedelta(days=i) for i in range(-past, ahead)]
    values = [_day(lat, lon, d) for d in days]
    asked = [v for v in q.get("daily", "").split(",") if v]
    columns = {
        "temperature_2m_max": [v[0] for v in values],
        "temperature_2m_min": [v[1] for v in values],
        "precipitation_sum": [v[2] for v in values],
        "wind_speed_10m_max": [v[3] for v in values],
    }
    unknown = [v for v in asked if v not in columns]
    if unknown:
        return Response(400, {"error": True, "reason": f"Cannot initialize from '{unknown[0]}'"})
    # timezone=auto: a known city's zone and elevation, else GMT as for the open sea.
    near = [p for p in PLACES if abs(p[3] - lat) < 0.05 and abs(p[4] - lon) < 0.05]
    tz, elevation = (near[0][6], near[0][5]) if near else ("GMT", 40.0)
    return Response(
        200,
        {
            "latitude": round(lat, 2),
            "longitude": round(lon, 2),
            "generationtime_ms": 0.9,
            "utc_offset_seconds": 0,
            "timezone": tz,
            "timezone_abbreviation": "GMT" if tz == "GMT" else "",
            "elevation": elevation,
            "daily_units": {k: DAILY_UNITS[k] for k in ["time", *asked]},
            "daily": {"time": [d.isoformat() for d in days], **{k: columns[k] for k in asked}},
        },
    )


ROUTES = {("v1", "search"): search, ("v1", "forecast"): forecast}
