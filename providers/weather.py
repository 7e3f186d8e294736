"""Weather: daily forecast and recent history for places, from Open-Meteo.

Two Open-Meteo APIs: geocoding (``GET /v1/search?name=``) turns a place name
into coordinates, forecast (``GET /v1/forecast``) returns the daily series.
A place given by latitude/longitude skips geocoding. One progress step per
place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from providers.settings import ProviderSettings

from .base import Provider
from .errors import NotFound
from .http import ClientPool, Endpoint, Progress, UpstreamClient, malformed
from .schema import CONTROL_FREE, CONTROL_MESSAGE, Check, FieldError, Schema, params_object

DAILY = {
    "temperature_2m_max": "temperature_max",
    "temperature_2m_min": "temperature_min",
    "precipitation_sum": "precipitation",
    "wind_speed_10m_max": "wind_speed_max",
}
"""Open-Meteo's daily variables we ask for, and our names for them."""


def _one_way_to_locate(params: dict[str, Any]) -> Iterable[FieldError]:
    for index, place in enumerate(params["places"]):
        path = f"places[{index}]"
        has_name = place["name"] is not None
        has_lat, has_lon = place["latitude"] is not None, place["longitude"] is not None
        if has_name and (has_lat or has_lon):
            yield FieldError(path, "one_of", "give a name or coordinates, not both")
        elif not has_name and not (has_lat and has_lon):
            yield FieldError(path, "one_of", "give a name, or both latitude and longitude")


def _some_days(params: dict[str, Any]) -> Iterable[FieldError]:
    if params["forecast_days"] + params["past_days"] < 1:
        yield FieldError("forecast_days", "minimum", "ask for at least one day")


PLACE = params_object(
    {
        "name": {
            "type": "string",
            "description": "Looked up by geocoding; the best match is used",
            "examples": ["Lisbon"],
            "minLength": 1,
            "maxLength": 100,
            "pattern": CONTROL_FREE,
            "x-messages": {"pattern": CONTROL_MESSAGE},
        },
        "latitude": {
            "type": "number",
            "description": "Decimal degrees, north positive",
            "minimum": -90,
            "maximum": 90,
        },
        "longitude": {
            "type": "number",
            "description": "Decimal degrees, east positive",
            "minimum": -180,
            "maximum": 180,
        },
    },
    description="A place: its name, or its coordinates",
)

SCHEMA = Schema(
    params_object(
        {
            "places": {
                "type": "array",
                "description": "One to ten places",
                "examples": [[{"name": "Lisbon"}, {"latitude": 52.52, "longitude": 13.41}]],
                "items": PLACE,
                "minItems": 1,
                "maxItems": 10,
                "uniqueItems": True,
            },
            "forecast_days": {
                "type": "integer",
                "description": "Days of forecast, today included",
                "default": 7,
                "minimum": 0,
                "maximum": 16,
            },
            "past_days": {
                "type": "integer",
                "description": "Days of history before today",
                "default": 0,
                "minimum": 0,
                "maximum": 92,
            },
        },
        required=["places"],
    ),
    checks=[
        Check("each place: give a name, or both latitude and longitude", _one_way_to_locate),
        Check("forecast_days + past_days must be at least 1", _some_days),
    ],
)


def _geocode(client: UpstreamClient, name: str) -> dict[str, Any]:
    reply = client.get_json(
        ("v1", "search"),
        {"name": name, "count": 1, "language": "en", "format": "json"},
        not_found=f"place {name!r} not found",
    )
    results = reply.data.get("results") if isinstance(reply.data, dict) else None
    if not results:
        # Open-Meteo answers 200 without "results" when nothing matches.
        raise NotFound(f"place {name!r} not found", service=client.service)
    top = results[0]
    if not isinstance(top, dict) or "latitude" not in top or "longitude" not in top:
        raise malformed(client.service, "a geocoding result without coordinates")
    return top


def _forecast(
    client: UpstreamClient, lat: float, lon: float, params: dict[str, Any]
) -> dict[str, Any]:
    reply = client.get_json(
        ("v1", "forecast"),
        {
            "latitude": f"{lat:.4f}",
            "longitude": f"{lon:.4f}",
            "daily": ",".join(DAILY),
            "forecast_days": params["forecast_days"],
            "past_days": params["past_days"],
            "timezone": "auto",
        },
        not_found=f"no forecast for {lat:.4f},{lon:.4f}",
    )
    data = reply.data
    daily = data.get("daily") if isinstance(data, dict) else None
    if not isinstance(daily, dict) or not isinstance(daily.get("time"), list):
        raise malformed(client.service, "a forecast without daily data")
    return data


def _series(data: dict[str, Any], service: str) -> list[dict[str, Any]]:
    daily = data["daily"]
    days = daily["time"]
    columns = {}
    for theirs, ours in DAILY.items():
        values = daily.get(theirs)
        if not isinstance(values, list) or len(values) != len(days):
            raise malformed(service, f"daily {theirs} missing or of the wrong length")
        columns[ours] = values
    return [
        {"date": day, **{name: values[i] for name, values in columns.items()}}
        for i, day in enumerate(days)
    ]


def _extreme(days: list[dict[str, Any]], key: str, pick: Any) -> tuple[str | None, float | None]:
    known = [d for d in days if d[key] is not None]
    if not known:
        return None, None
    best = pick(known, key=lambda d: d[key])
    return best["date"], best[key]


def summarize(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-place summary; null values (missing observations) are skipped."""
    highs = [d["temperature_max"] for d in days if d["temperature_max"] is not None]
    lows = [d["temperature_min"] for d in days if d["temperature_min"] is not None]
    rain = [d["precipitation"] for d in days if d["precipitation"] is not None]
    wind = [d["wind_speed_max"] for d in days if d["wind_speed_max"] is not None]
    means = [
        (d["temperature_max"] + d["temperature_min"]) / 2
        for d in days
        if d["temperature_max"] is not None and d["temperature_min"] is not None
    ]
    warmest_date, _ = _extreme(days, "temperature_max", max)
    coldest_date, _ = _extreme(days, "temperature_min", min)
    wettest_date, wettest = _extreme(days, "precipitation", max)
    return {
        "days": len(days),
        "temperature_max": max(highs) if highs else None,
        "temperature_min": min(lows) if lows else None,
        "temperature_mean": round(sum(means) / len(means), 1) if means else None,
        "precipitation_total": round(sum(rain), 1) if rain else None,
        "wind_speed_max": max(wind) if wind else None,
        "warmest_day": warmest_date,
        "coldest_day": coldest_date,
        "wettest_day": wettest_date if wettest else None,
    }


def _overall(places: list[dict[str, Any]]) -> dict[str, Any]:
    """Across places: where and when it was warmest, coldest and wettest."""

    def best(key: str, pick: Any) -> dict[str, Any] | None:
        found = [
            {"place": p["name"], "date": d["date"], key: d[key]}
            for p in places
            for d in p["daily"]
            if d[key] is not None
        ]
        return pick(found, key=lambda f: f[key]) if found else None

    return {
        "places": len(places),
        "warmest": best("temperature_max", max),
        "coldest": best("temperature_min", min),
        "wettest": best("precipitation", max),
    }


def execute(
    params: dict[str, Any],
    progress: Progress,
    config: ProviderSettings,
    pool: ClientPool | None = None,
) -> dict[str, Any]:
    timeouts = (config.timeout, config.connect_timeout)
    geocoding = UpstreamClient(
        Endpoint("Open-Meteo geocoding", config.weather_geocoding_url, *timeouts), pool
    )
    forecast = UpstreamClient(
        Endpoint("Open-Meteo forecast", config.weather_forecast_url, *timeouts), pool
    )
    places: list[dict[str, Any]] = []
    total = len(params["places"])
    for index, query in enumerate(params["places"], start=1):
        if query["name"] is not None:
            found = _geocode(geocoding, query["name"])
            lat, lon = float(found["latitude"]), float(found["longitude"])
            name, country = found.get("name", query["name"]), found.get("country")
            admin = found.get("admin1")
        else:
            lat, lon = query["latitude"], query["longitude"]
            name, country, admin = f"{lat:.4f},{lon:.4f}", None, None
        data = _forecast(forecast, lat, lon, params)
        days = _series(data, forecast.service)
        units = data.get("daily_units") or {}
        places.append(
            {
                "query": {k: v for k, v in query.items() if v is not None},
                "name": name,
                "country": country,
                "region": admin,
                "latitude": data.get("latitude", lat),
                "longitude": data.get("longitude", lon),
                "elevation": data.get("elevation"),
                "timezone": data.get("timezone"),
                "units": {ours: units.get(theirs) for theirs, ours in DAILY.items()},
                "daily": days,
                "summary": summarize(days),
            }
        )
        progress(index, total, f"{name}: {len(days)} days")
    return {
        "provider": "weather",
        "forecast_days": params["forecast_days"],
        "past_days": params["past_days"],
        "places": places,
        "summary": _overall(places),
    }


PROVIDER = Provider(
    name="weather",
    title="Weather",
    description="Daily forecast and recent history (temperature, precipitation, wind) "
    "for one or more places, from Open-Meteo.",
    schema=SCHEMA,
    execute=execute,
)
run = PROVIDER.run
