"""The HTTP layer's pure parts: Retry-After, URL building, error values."""

from __future__ import annotations

import datetime as dt
import email.utils
import pickle

import pytest

from providers.errors import (
    BACKOFF_MAX,
    NotFound,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from providers.http import UnsafeRequest, build_url, parse_retry_after

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        (email.utils.format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True), 90.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Saturday, 01-Mar-25 12:00:30 GMT", 30.0),  # obsolete RFC 850 form
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past: go now
    ],
)
def test_retry_after_delta_seconds_and_http_date(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Sat, 99 Foo 2025"])
def test_unusable_retry_after_gives_no_hint(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_build_url_keeps_the_base_and_encodes_segments() -> None:
    url = build_url("http://127.0.0.1:8765/github", ["repos", "octo", "a b?c#d/e@f"])
    assert str(url) == "http://127.0.0.1:8765/github/repos/octo/a%20b%3Fc%23d%2Fe%40f"
    assert url.host == "127.0.0.1" and url.port == 8765


@pytest.mark.parametrize("segment", ["..", ".", ""])
def test_build_url_refuses_dot_segments(segment: str) -> None:
    with pytest.raises(UnsafeRequest):
        build_url("https://api.github.com", ["repos", segment, "x"])


def test_build_url_cannot_reach_another_host() -> None:
    url = build_url("https://api.github.com", ["//evil.example", "x"])
    assert url.host == "api.github.com"
    url = build_url("https://api.github.com", ["https://evil.example:443"])
    assert url.host == "api.github.com" and url.path.startswith("/https")


@pytest.mark.parametrize(
    "error, retryable",
    [
        (NotFound("repository octo/x not found"), False),
        (UpstreamError("refused"), False),
        (RateLimited("slow down", retry_after=12), True),
        (UpstreamUnavailable("down"), True),
        (UpstreamTimeout("late"), True),
    ],
)
def test_retryable_is_a_property_of_the_error(error: ProviderError, retryable: bool) -> None:
    assert error.retryable is retryable
    assert error.to_dict()["retryable"] is retryable
    assert error.to_dict()["code"] == error.code


def test_countdown_honours_retry_after_else_backs_off() -> None:
    assert RateLimited("x", retry_after=12).countdown(retries=5) == 12
    assert RateLimited("x", retry_after=10_000).countdown(0) == BACKOFF_MAX
    backoff = [UpstreamUnavailable("x").countdown(n) for n in range(3)]
    assert backoff == [2.0, 4.0, 8.0]
    assert UpstreamTimeout("x").countdown(50) == BACKOFF_MAX


def test_errors_survive_pickling_across_processes() -> None:
    error = RateLimited("GitHub rate limit reached", service="GitHub", status=429, retry_after=3)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimited and copy.to_dict() == error.to_dict()
    assert str(copy) == "GitHub rate limit reached"
