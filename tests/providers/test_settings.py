"""Provider settings from the environment: URLs, timeouts, token, sandbox switch."""

from __future__ import annotations

import pytest

from config.environment import ConfigurationError, Environment
from providers.settings import PROVIDER_DEFAULT_URLS, ProviderSettings


def providers(env: dict[str, str]) -> ProviderSettings:
    return Environment.from_env(env).providers


def test_defaults_are_the_public_apis() -> None:
    p = providers({})
    assert p.github_url == PROVIDER_DEFAULT_URLS["github_url"] == "https://api.github.com"
    assert p.exchange_url == "https://api.frankfurter.app"
    assert not p.uses_sandbox and p.github_token == ""
    assert (p.timeout, p.connect_timeout) == (15.0, 5.0)


def test_one_variable_switches_every_api_to_the_sandbox() -> None:
    p = providers(
        {"PROVIDERS_SANDBOX_URL": "http://127.0.0.1:8765/", "GITHUB_API_URL": "https://x.test"}
    )
    assert p.uses_sandbox and p.sandbox_url == "http://127.0.0.1:8765"
    assert p.weather_geocoding_url == "http://127.0.0.1:8765/geocoding"
    assert p.weather_forecast_url == "http://127.0.0.1:8765/forecast"
    assert p.quotes_url == "http://127.0.0.1:8765/quotable"
    assert p.exchange_url == "http://127.0.0.1:8765/frankfurter"
    assert p.github_url == "http://127.0.0.1:8765/github"  # the sandbox wins


def test_per_provider_urls_timeouts_and_token() -> None:
    p = providers(
        {
            "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "QUOTES_URL": "http://quotes.internal:8080",
            "PROVIDERS_TIMEOUT": "2.5",
            "PROVIDERS_CONNECT_TIMEOUT": "1",
            "GITHUB_TOKEN": " secret-token ",
        }
    )
    assert p.github_url == "https://ghe.example.com/api/v3"
    assert p.quotes_url == "http://quotes.internal:8080"
    assert (p.timeout, p.connect_timeout) == (2.5, 1.0)
    assert p.github_token == "secret-token"
    assert "secret-token" not in repr(p)  # never in a log line or traceback


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("GITHUB_API_URL", "ftp://x", "GITHUB_API_URL='ftp://x' must start with http://"),
        ("EXCHANGE_URL", "http://", "EXCHANGE_URL='http://' names no host"),
        ("PROVIDERS_SANDBOX_URL", "localhost:8765", "PROVIDERS_SANDBOX_URL="),
        ("PROVIDERS_TIMEOUT", "soon", "PROVIDERS_TIMEOUT='soon' is not a number"),
        ("PROVIDERS_CONNECT_TIMEOUT", "0", "PROVIDERS_CONNECT_TIMEOUT='0' must be more than 0"),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("?", r"\?")):
        providers({name: value})
