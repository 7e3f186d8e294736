"""Each provider's parameter rules, and that no parameter can choose a host."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from providers.registry import PROVIDERS, UnknownProvider, describe_all, get_provider
from providers.schema import ValidationError

pytestmark = pytest.mark.fast


def refused(provider: str, params: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        get_provider(provider).validate(params)
    return {(e.path, e.rule) for e in info.value.errors}


def test_registry_knows_the_four_providers() -> None:
    assert list(PROVIDERS) == ["weather", "quote", "exchange", "github"]
    with pytest.raises(UnknownProvider, match="expected one of: weather, quote"):
        get_provider("horoscope")


def test_describe_all_is_json_for_the_providers_query() -> None:
    described = json.loads(json.dumps(describe_all()))
    assert [d["name"] for d in described] == list(PROVIDERS)
    for provider in described:
        assert provider["title"] and provider["description"]
        schema = provider["params_schema"]
        assert schema["properties"] and schema["x-maxBytes"] > 0
        assert schema["additionalProperties"] is False


# --- weather ------------------------------------------------------------------


def test_weather_defaults() -> None:
    clean = get_provider("weather").normalize({"places": [{"name": "Lisbon"}]})
    assert clean == {
        "places": [{"name": "Lisbon", "latitude": None, "longitude": None}],
        "forecast_days": 7,
        "past_days": 0,
    }


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, ("places", "required")),
        ({"places": []}, ("places", "min_items")),
        ({"places": [{"name": "x"}] * 11}, ("places", "max_items")),
        ({"places": [{"name": "Oslo"}, {"name": "Oslo"}]}, ("places[1]", "unique")),
        ({"places": [{"latitude": 1}]}, ("places[0]", "one_of")),
        ({"places": [{"name": "Oslo", "latitude": 1, "longitude": 2}]}, ("places[0]", "one_of")),
        ({"places": [{"latitude": 91, "longitude": 0}]}, ("places[0].latitude", "maximum")),
        ({"places": [{"latitude": 0, "longitude": -181}]}, ("places[0].longitude", "minimum")),
        ({"places": [{"name": "Oslo"}], "forecast_days": 17}, ("forecast_days", "maximum")),
        ({"places": [{"name": "Oslo"}], "past_days": 93}, ("past_days", "maximum")),
        (
            {"places": [{"name": "Oslo"}], "forecast_days": 0, "past_days": 0},
            ("forecast_days", "minimum"),
        ),
        ({"places": ["Oslo"]}, ("places[0]", "type")),
        ({"places": [{"name": "Oslo", "url": "http://x"}]}, ("places[0].url", "unknown")),
    ],
)
def test_weather_rules(params: dict[str, Any], expected: tuple[str, str]) -> None:
    assert refused("weather", params) == {expected}


# --- quote --------------------------------------------------------------------


def test_quote_defaults() -> None:
    assert get_provider("quote").normalize({}) == {
        "count": 10,
        "tags": None,
        "match": "all",
        "author": None,
        "page_size": 25,
    }


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"count": 0}, ("count", "minimum")),
        ({"count": 201}, ("count", "maximum")),
        ({"count": "10"}, ("count", "type")),
        ({"tags": ["Wisdom"]}, ("tags[0]", "format")),
        ({"tags": ["a,b"]}, ("tags[0]", "format")),
        ({"tags": ["a|b"]}, ("tags[0]", "format")),
        ({"tags": ["a", "b", "c", "d", "e", "f"]}, ("tags", "max_items")),
        ({"match": "some"}, ("match", "choices")),
        ({"author": "Ada|Grace"}, ("author", "pattern")),
        ({"author": "x" * 81}, ("author", "max_length")),
        ({"page_size": 101}, ("page_size", "maximum")),
    ],
)
def test_quote_rules(params: dict[str, Any], expected: tuple[str, str]) -> None:
    assert refused("quote", params) == {expected}


# --- exchange -----------------------------------------------------------------


def test_exchange_latest_by_default() -> None:
    assert get_provider("exchange").normalize({}) == {
        "base": "EUR",
        "symbols": None,
        "start": None,
        "end": None,
    }


def test_exchange_range_is_typed() -> None:
    clean = get_provider("exchange").validate(
        {"base": "USD", "symbols": ["EUR", "JPY"], "start": "2024-01-01", "end": "2024-03-31"}
    )
    assert clean["start"] == dt.date(2024, 1, 1) and clean["end"] == dt.date(2024, 3, 31)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"base": "usd"}, ("base", "format")),
        ({"base": "US"}, ("base", "min_length")),
        ({"base": "EURO"}, ("base", "max_length")),
        ({"symbols": ["USD", "USD"]}, ("symbols[1]", "unique")),
        ({"symbols": "USD"}, ("symbols", "type")),
        ({"symbols": ["EUR"]}, ("symbols", "not_base")),
        ({"start": "1999-01-01"}, ("start", "minimum")),
        ({"start": "2024-13-01"}, ("start", "format")),
        ({"start": "01/02/2024"}, ("start", "format")),
        ({"end": "2024-01-01"}, ("end", "requires")),
        ({"start": "2024-02-01", "end": "2024-01-01"}, ("end", "order")),
        ({"start": "2000-01-03", "end": "2015-01-01"}, ("end", "max_range")),
        ({"start": "2000-01-03"}, ("start", "max_range")),
        ({"start": "2999-01-01"}, ("start", "maximum")),
    ],
)
def test_exchange_rules(params: dict[str, Any], expected: tuple[str, str]) -> None:
    assert refused("exchange", params) == {expected}


# --- github -------------------------------------------------------------------


def test_github_defaults() -> None:
    assert get_provider("github").normalize({"repo": "octocat/Hello-World"}) == {
        "repo": "octocat/Hello-World",
        "releases": 10,
        "contributors": 30,
        "page_size": 100,
    }


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, ("repo", "required")),
        ({"repo": "octocat"}, ("repo", "format")),
        ({"repo": "-octo/x"}, ("repo", "format")),
        ({"repo": "octo/x/y"}, ("repo", "format")),
        ({"repo": "a" * 40 + "/x"}, ("repo", "format")),
        ({"repo": "octo/x", "releases": 101}, ("releases", "maximum")),
        ({"repo": "octo/x", "contributors": -1}, ("contributors", "minimum")),
        ({"repo": "octo/x", "page_size": 0}, ("page_size", "minimum")),
    ],
)
def test_github_rules(params: dict[str, Any], expected: tuple[str, str]) -> None:
    assert refused("github", params) == {expected}


# --- hosts come from settings only ----------------------------------------------


@pytest.mark.parametrize(
    "repo",
    [
        "https://evil.example/x",
        "evil.example/x",
        "octo/..",
        "octo/.",
        "../../evil",
        "@evil.example/x",
        "octo/x?host=evil.example",
        "octo/x#frag",
        "octo/x%2F..",
        "octo/x\r\nHost: evil.example",
    ],
)
def test_a_repo_cannot_name_another_host_or_path(repo: str) -> None:
    found = refused("github", {"repo": repo})
    assert found in ({("repo", "format")}, {("repo", "characters")})


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("name", ["base_url", "host", "url", "api", "headers"])
def test_no_provider_takes_a_host_param(provider: str, name: str) -> None:
    refused_fields = refused(provider, {name: "http://evil.example"})
    assert (name, "unknown") in refused_fields
    exported = json.dumps(get_provider(provider).describe()["params_schema"])
    assert '"uri' not in exported and '"hostname"' not in exported
