"""Where the providers' upstream APIs are: base URLs, timeouts, token, sandbox switch.

The providers app owns its settings: they are read from the environment
here (the project's ``config.environment`` includes them in its checked
environment, and Django's ``settings.PROVIDERS`` may replace them, see
:mod:`providers.conf`). Standard library only, because the local stack
scripts read the environment before any virtualenv exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PROVIDER_DEFAULT_URLS = {
    "weather_geocoding_url": "https://geocoding-api.open-meteo.com",
    "weather_forecast_url": "https://api.open-meteo.com",
    "quotes_url": "https://api.quotable.io",
    "exchange_url": "https://api.frankfurter.app",
    "github_url": "https://api.github.com",
}
"""The public APIs the providers call when no variable says otherwise."""

SANDBOX_PATHS = {
    "weather_geocoding_url": "/geocoding",
    "weather_forecast_url": "/forecast",
    "quotes_url": "/quotable",
    "exchange_url": "/frankfurter",
    "github_url": "/github",
}
"""Where the provider sandbox (``manage.py provider_sandbox``) serves each API."""

MAX_TIMEOUT = 600.0
"""Longest timeout accepted, in seconds: anything longer is a typo, not a wish."""


class ProviderSettingsError(ValueError):
    """A provider variable is malformed; the message names the variable and value."""


@dataclass(frozen=True)
class ProviderSettings:
    """Base URLs, timeouts and credentials of the provider APIs.

    With ``PROVIDERS_SANDBOX_URL`` set, every base URL points at the sandbox
    (it wins over the per-provider variables, so one switch is enough).
    Hosts come from here only: no job parameter can change them.
    """

    weather_geocoding_url: str = PROVIDER_DEFAULT_URLS["weather_geocoding_url"]
    weather_forecast_url: str = PROVIDER_DEFAULT_URLS["weather_forecast_url"]
    quotes_url: str = PROVIDER_DEFAULT_URLS["quotes_url"]
    exchange_url: str = PROVIDER_DEFAULT_URLS["exchange_url"]
    github_url: str = PROVIDER_DEFAULT_URLS["github_url"]
    # Kept out of repr so the token never lands in a log or a traceback.
    github_token: str = field(default="", repr=False)
    timeout: float = 15.0
    connect_timeout: float = 5.0
    sandbox_url: str = ""

    ENV_NAMES = {
        "weather_geocoding_url": "WEATHER_GEOCODING_URL",
        "weather_forecast_url": "WEATHER_FORECAST_URL",
        "quotes_url": "QUOTES_URL",
        "exchange_url": "EXCHANGE_URL",
        "github_url": "GITHUB_API_URL",
    }

    @property
    def uses_sandbox(self) -> bool:
        return bool(self.sandbox_url)

    @classmethod
    def for_sandbox(cls, sandbox_url: str, **overrides: object) -> ProviderSettings:
        """All base URLs under one sandbox address (tests start one on a free port)."""
        root = sandbox_url.rstrip("/")
        urls = {attr: root + path for attr, path in SANDBOX_PATHS.items()}
        return cls(**urls, sandbox_url=root, **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProviderSettings:
        """Read and check the provider variables; raises :class:`ProviderSettingsError`."""
        common = {
            "github_token": env.get("GITHUB_TOKEN", "").strip(),
            "timeout": _seconds(env, "PROVIDERS_TIMEOUT", 15.0),
            "connect_timeout": _seconds(env, "PROVIDERS_CONNECT_TIMEOUT", 5.0),
        }
        if env.get("PROVIDERS_SANDBOX_URL"):
            return cls.for_sandbox(_http_url(env, "PROVIDERS_SANDBOX_URL", ""), **common)
        urls = {
            attr: _http_url(env, name, PROVIDER_DEFAULT_URLS[attr]).rstrip("/")
            for attr, name in cls.ENV_NAMES.items()
        }
        return cls(**urls, **common)  # type: ignore[arg-type]


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ProviderSettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= MAX_TIMEOUT:
        raise ProviderSettingsError(
            f"{name}={raw!r} must be more than 0 and at most {MAX_TIMEOUT:g} seconds"
        )
    return value


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise ProviderSettingsError(f"{name}={raw!r} must start with http:// or https://")
    if not parts.hostname:
        raise ProviderSettingsError(f"{name}={raw!r} names no host")
    return raw
