"""Each provider against the sandbox, over real HTTP: results, progress, errors.

Nothing is patched: the clients open real connections to the sandbox
started by ``tests/providers/conftest.py``; failures are chosen by parameter
values (providers/README.md lists the triggers).
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from providers import exchange, github, quote, weather
from providers.errors import (
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from providers.http import ClientPool
from providers.sandbox import SandboxServer
from providers.schema import ValidationError
from providers.settings import ProviderSettings

from .conftest import Progress

# --- success, with progress ----------------------------------------------------


def test_weather_by_name_and_coordinates(
    sandbox_settings: ProviderSettings, progress: Progress
) -> None:
    params = {
        "places": [{"name": "Lisbon"}, {"latitude": -33.87, "longitude": 151.21}],
        "past_days": 2,
        "forecast_days": 3,
    }
    result = weather.run(params, progress)
    lisbon, sydney = result["places"]
    assert lisbon["name"] == "Lisbon" and lisbon["country"] == "Portugal"
    assert lisbon["query"] == {"name": "Lisbon"}
    assert sydney["query"] == {"latitude": -33.87, "longitude": 151.21}
    assert len(lisbon["daily"]) == 5
    day = lisbon["daily"][0]
    assert set(day) == {"date", "temperature_max", "temperature_min", "precipitation",
                        "wind_speed_max"}  # fmt: skip
    assert day["temperature_max"] >= day["temperature_min"]
    assert lisbon["units"]["temperature_max"] == "°C"
    assert lisbon["timezone"] == "Europe/Lisbon" and sydney["timezone"] == "Australia/Sydney"
    assert lisbon["summary"]["days"] == 5
    highs = [d["temperature_max"] for d in lisbon["daily"]]
    assert lisbon["summary"]["temperature_max"] == max(highs)
    assert result["summary"]["places"] == 2 and result["summary"]["warmest"]["place"]
    assert [(c, t) for c, t, _ in progress.events] == [(1, 2), (2, 2)]
    assert progress.events[0][2].startswith("Lisbon")


def test_quotes_over_several_pages(sandbox_settings: ProviderSettings, progress: Progress) -> None:
    result = quote.run({"count": 60, "page_size": 25}, progress)
    assert result["count"] == 60 and len(result["quotes"]) == 60
    assert len({q["id"] for q in result["quotes"]}) == 60
    assert all(q["content"] and q["author"] for q in result["quotes"])
    assert sum(a["count"] for a in result["authors"]) == 60
    assert [(c, t) for c, t, _ in progress.events] == [(1, 3), (2, 3), (3, 3)]


def test_quotes_by_author_and_tags(sandbox_settings: ProviderSettings, progress: Progress) -> None:
    by_author = quote.run({"author": "Albert Einstein", "count": 10}, progress)
    assert by_author["count"] == 3 and by_author["available"] == 3
    assert {q["author"] for q in by_author["quotes"]} == {"Albert Einstein"}
    assert progress.last[:2] == (1, 1)
    anyof = quote.run({"tags": ["science", "virtue"], "match": "any", "count": 50})
    assert all({"science", "virtue"} & set(q["tags"]) for q in anyof["quotes"])
    allof = quote.run({"tags": ["science", "wisdom"], "count": 50})
    assert allof["count"] >= 1
    assert all({"science", "wisdom"} <= set(q["tags"]) for q in allof["quotes"])


def test_exchange_latest(sandbox_settings: ProviderSettings, progress: Progress) -> None:
    result = exchange.run({"base": "USD", "symbols": ["EUR", "JPY"]}, progress)
    assert result["mode"] == "latest" and result["base"] == "USD"
    (point,) = result["series"]
    assert set(point["rates"]) == {"EUR", "JPY"} and point["rates"]["JPY"] > 50
    assert result["stats"]["EUR"]["change"] == 0
    assert progress.events == [(1, 1, f"latest rates of {point['date']}")]


def test_exchange_range_in_chunks_with_statistics(
    sandbox_settings: ProviderSettings, progress: Progress
) -> None:
    params = {"symbols": ["USD", "GBP"], "start": "2023-01-01", "end": "2023-12-31"}
    result = exchange.run(params, progress)
    dates = [p["date"] for p in result["series"]]
    assert dates == sorted(set(dates)) and dates[0] == "2023-01-02" and dates[-1] == "2023-12-29"
    assert len(dates) == 260  # working days of 2023
    usd = result["stats"]["USD"]
    values = [p["rates"]["USD"] for p in result["series"]]
    assert usd["min"] == min(values) and usd["max"] == max(values)
    assert usd["first"] == values[0] and usd["last"] == values[-1]
    assert usd["change"] == pytest.approx(values[-1] - values[0])
    assert usd["points"] == 260
    assert [(c, t) for c, t, _ in progress.events] == [(i, 5) for i in range(1, 6)]
    assert progress.events[0][2].startswith("2023-01-01..2023-03-31")


def test_github_report_pages_through_releases_and_contributors(
    sandbox_settings: ProviderSettings, progress: Progress
) -> None:
    params = {"repo": "octocat/Hello-World", "releases": 20, "contributors": 120, "page_size": 50}
    result = github.run(params, progress)
    assert result["repository"]["full_name"] == "octocat/Hello-World"
    assert result["repository"]["license"] == "MIT"
    assert sum(lang["bytes"] for lang in result["languages"]) > 0
    assert len(result["releases"]) <= 20 and result["releases"][0]["tag"].startswith("v")
    contributions = [c["contributions"] for c in result["contributors"]]
    assert contributions == sorted(contributions, reverse=True)
    assert result["summary"]["contributors"] == len(result["contributors"])
    assert result["rate_limit"]["limit"] == 60  # anonymous
    currents = [c for c, _, _ in progress.events]
    assert currents == list(range(1, len(currents) + 1))
    assert progress.last[0] == progress.last[1]  # ends at 100%
    assert len(currents) >= 4


def test_github_token_is_sent(sandbox: SandboxServer, pool: ClientPool) -> None:
    config = ProviderSettings.for_sandbox(sandbox.url, github_token="t0ken")
    result = github.run({"repo": "octo/x", "releases": 1, "contributors": 1}, config=config)
    assert result["rate_limit"]["limit"] == 5000  # the sandbox's authenticated limit


def test_github_bad_token_is_a_final_error(sandbox: SandboxServer) -> None:
    config = ProviderSettings.for_sandbox(sandbox.url, github_token="bad-token")
    with pytest.raises(UpstreamError, match="refused access .*401.*Bad credentials") as info:
        github.run({"repo": "octo/x"}, config=config)
    assert not info.value.retryable


def test_run_validates_params_first(sandbox_settings: ProviderSettings) -> None:
    with pytest.raises(ValidationError):
        github.run({"repo": "https://evil.example/x"})


# --- failures, per provider ----------------------------------------------------

PARAMS = {
    "weather": lambda t: {"places": [{"name": f"sandbox-{t}"}], "forecast_days": 1},
    "quote": lambda t: {"author": f"sandbox-{t}", "count": 1},
    "github": lambda t: {"repo": f"sandbox/{t}", "releases": 1, "contributors": 1},
}
"""Parameters that trigger fault ``t`` (a fault name plus a unique suffix)."""

EXCHANGE_TRIGGERS = {
    "not-found": "XNF",
    "rate-limited": "XRL",
    "rate-limited-date": "XRD",
    "flaky": "XFL",
    "down": "XDN",
    "slow": "XSL",
    "redirect": "XRR",
    "malformed": "XMF",
}
"""The sandbox's Frankfurter triggers: currency codes from ISO 4217's X range."""

_LETTERS = "ABCEGHIJKOPQTUVW"
"""16 letters for hex digits, none of them a trigger's second letter."""

RUN = {"weather": weather.run, "quote": quote.run, "exchange": exchange.run, "github": github.run}
ALL = list(RUN)


def _params(provider: str, fault: str, key: str) -> dict[str, Any]:
    if provider != "exchange":
        return PARAMS[provider](f"{fault}-{key}")
    # Frankfurter's sandbox keys its state by the currency list: made-up
    # X-codes from the key make this test's list its own.
    fresh = ["X" + "".join(_LETTERS[int(c, 16)] for c in key[i : i + 2]) for i in (0, 2)]
    trigger = [EXCHANGE_TRIGGERS[fault]] if fault in EXCHANGE_TRIGGERS else []
    return {"symbols": list(dict.fromkeys(trigger + fresh))}


@pytest.mark.parametrize("provider", ALL)
def test_not_found_is_final_with_a_readable_message(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    with pytest.raises(NotFound) as info:
        RUN[provider](_params(provider, "not-found", key))
    assert not info.value.retryable
    expected = {
        "weather": f"place 'sandbox-not-found-{key}' not found",
        "quote": f"no quotes found by 'sandbox-not-found-{key}'",
        "exchange": "no exchange rates for EUR against XNF",
        "github": f"repository sandbox/not-found-{key} not found",
    }
    assert info.value.message.startswith(expected[provider])


def test_github_not_found_names_the_repository(sandbox_settings: ProviderSettings) -> None:
    with pytest.raises(NotFound, match=r"^repository sandbox/not-found not found$") as info:
        github.run({"repo": "sandbox/not-found"})
    assert info.value.status == 404 and info.value.to_dict()["code"] == "not_found"


@pytest.mark.parametrize("provider", ALL)
def test_429_with_retry_after_seconds_then_success(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    params = _params(provider, "rate-limited", key)
    with pytest.raises(RateLimited) as info:
        RUN[provider](params)
    assert info.value.retryable and info.value.retry_after == 1.0
    assert info.value.countdown(retries=0) == 1.0
    assert RUN[provider](params)["provider"] == provider  # the retry succeeds


@pytest.mark.parametrize("provider", ALL)
def test_429_with_retry_after_http_date(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    with pytest.raises(RateLimited) as info:
        RUN[provider](_params(provider, "rate-limited-date", key))
    # The sandbox asks for 2 s as an HTTP-date (1 s resolution, so 0 to 2 s remain).
    assert info.value.retry_after is not None and 0 <= info.value.retry_after <= 2


def test_github_exhausted_quota_is_rate_limited_until_reset(
    sandbox_settings: ProviderSettings, key: str
) -> None:
    with pytest.raises(RateLimited) as info:
        github.run({"repo": f"sandbox/quota-{key}"})
    assert info.value.status == 403 and 0 <= (info.value.retry_after or -1) <= 3


@pytest.mark.parametrize("provider", ALL)
def test_5xx_is_retryable_then_success(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    params = _params(provider, "flaky", key)
    with pytest.raises(UpstreamUnavailable, match="unavailable .HTTP 503") as info:
        RUN[provider](params)
    assert info.value.retryable and info.value.status == 503
    assert RUN[provider](params)["provider"] == provider


@pytest.mark.parametrize("provider", ALL)
def test_upstream_down_keeps_failing(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    params = _params(provider, "down", key)
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="HTTP 502"):
            RUN[provider](params)


@pytest.mark.parametrize("provider", ALL)
def test_slow_answer_is_a_timeout(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    params = _params(provider, "slow", key)
    with pytest.raises(UpstreamTimeout, match="did not answer within 1s") as info:
        RUN[provider](params)
    assert info.value.retryable
    assert RUN[provider](params)["provider"] == provider  # only the first answer is slow


@pytest.mark.parametrize("provider", ALL)
def test_redirects_are_refused_not_followed(
    provider: str, sandbox: SandboxServer, sandbox_settings: ProviderSettings, key: str
) -> None:
    with pytest.raises(UpstreamError, match="redirected to localhost") as info:
        RUN[provider](_params(provider, "redirect", key))
    assert not info.value.retryable
    assert "stolen" not in httpx.get(f"{sandbox.url}/_sandbox/state").json()["hits"]


@pytest.mark.parametrize("provider", ALL)
def test_a_body_that_is_not_json_is_a_final_error(
    provider: str, sandbox_settings: ProviderSettings, key: str
) -> None:
    with pytest.raises(UpstreamError, match="not JSON") as info:
        RUN[provider](_params(provider, "malformed", key))
    assert not info.value.retryable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("provider", ALL)
def test_unreachable_upstream_is_unavailable(provider: str, pool: ClientPool, key: str) -> None:
    config = ProviderSettings.for_sandbox(f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(UpstreamUnavailable, match="unreachable") as info:
        RUN[provider](_params(provider, "none", key), config=config, pool=pool)
    assert info.value.retryable


def test_settings_choose_the_host(sandbox: SandboxServer, settings: Any) -> None:
    """Without a config argument, run() reads settings.PROVIDERS."""
    settings.PROVIDERS = ProviderSettings.for_sandbox(f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(UpstreamUnavailable):
        github.run({"repo": "octo/x"})
    settings.PROVIDERS = ProviderSettings.for_sandbox(sandbox.url)
    assert github.run({"repo": "octo/x"})["repository"]["full_name"] == "octo/x"
