"""The providers people can run, by name (what GraphQL and the tasks look up)."""

from __future__ import annotations

from typing import Any

from . import exchange, github, quote, weather
from .base import Provider

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (weather.PROVIDER, quote.PROVIDER, exchange.PROVIDER, github.PROVIDER)
}
"""Every provider, keyed by its stable name."""


class UnknownProvider(LookupError):
    """No provider has this name; the message lists the ones that exist."""


def get_provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(
            f"unknown provider {name[:40]!r}; expected one of: {', '.join(PROVIDERS)}"
        ) from None


def describe_all() -> list[dict[str, Any]]:
    """Name, description and parameter schema of each provider, for the ``providers`` query."""
    return [p.describe() for p in PROVIDERS.values()]
