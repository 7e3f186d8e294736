"""The sandbox's request/response types and its scripted failures.

A failure is chosen by a parameter value (a place named
``sandbox-rate-limited``, the repository ``sandbox/flaky``...), and remembered
per *key* (the whole value), so "429 once, then success" holds across the
requests of a retried job while another key starts fresh. Suffixes make new
keys: ``sandbox/rate-limited-2`` fails once more.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Fault(enum.StrEnum):
    """The failures the sandbox can play, by trigger token."""

    NOT_FOUND = "not-found"  # the provider's own "nothing here" answer
    RATE_LIMITED = "rate-limited"  # 429, Retry-After: 1 (seconds); once, then success
    RATE_LIMITED_DATE = "rate-limited-date"  # 429, Retry-After as an HTTP-date; once
    QUOTA = "quota"  # GitHub's 403 with X-RateLimit-Remaining: 0; once
    FLAKY = "flaky"  # 503 once, then success
    DOWN = "down"  # 502 on every request
    SLOW = "slow"  # the first answer comes after the server's slow_seconds
    REDIRECT = "redirect"  # 302 to another host, every time
    MALFORMED = "malformed"  # 200 with an HTML body, every time


ONCE = {Fault.RATE_LIMITED, Fault.RATE_LIMITED_DATE, Fault.QUOTA, Fault.FLAKY, Fault.SLOW}
"""Faults played on a key's first request only; later requests succeed."""

_BY_LENGTH = sorted(Fault, key=lambda f: -len(f.value))


def parse_fault(token: str) -> Fault | None:
    """``rate-limited-date-7`` -> RATE_LIMITED_DATE (longest token first, suffix ignored)."""
    token = token.lower()
    for fault in _BY_LENGTH:
        if token == fault.value or token.startswith(fault.value + "-"):
            return fault
    return None


@dataclass
class Request:
    """What a route handler sees: path segments after the API prefix, query, headers."""

    segments: list[str]
    query: dict[str, str]
    headers: dict[str, str]
    server_url: str
    prefix: str


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0


Route = Callable[[Request, "FaultBook"], Response]
"""Answers one request of an API (may consult the fault book)."""


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"message": message}, dict(headers or {}))


def delayed(response: Response, failure: Response | None) -> Response:
    """The normal answer, late if the fault played was SLOW."""
    if failure is not None:
        response.delay = failure.delay
    return response


class FaultBook:
    """Per-key request counts, shared by the server's threads."""

    def __init__(self, slow_seconds: float) -> None:
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()

    def count(self, key: str) -> int:
        with self._lock:
            self.hits[key] += 1
            return self.hits[key]

    def play(self, fault: Fault | None, key: str, request: Request) -> Response | None:
        """The failure to answer with now, or None to answer normally.

        NOT_FOUND is left to the route, which knows its API's way of saying it.
        """
        if fault is None or fault is Fault.NOT_FOUND:
            return None
        hit = self.count(key)
        if fault in ONCE and hit > 1:
            return None
        if fault is Fault.RATE_LIMITED:
            return json_error(429, "Too Many Requests", headers={"Retry-After": "1"})
        if fault is Fault.RATE_LIMITED_DATE:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
            date = email.utils.format_datetime(when, usegmt=True)
            return json_error(429, "Too Many Requests", headers={"Retry-After": date})
        if fault is Fault.QUOTA:
            reset = int(dt.datetime.now(dt.UTC).timestamp()) + 3
            return json_error(
                403,
                "API rate limit exceeded",
                headers={
                    "X-RateLimit-Limit": "60",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        if fault is Fault.FLAKY:
            return json_error(503, "Service Unavailable")
        if fault is Fault.DOWN:
            return json_error(502, "Bad Gateway")
        if fault is Fault.SLOW:
            # Delayed, then answered normally: the route fills in the body.
            return Response(delay=self.slow_seconds, status=0)
        if fault is Fault.REDIRECT:
            # Another host name for the same server: were it followed, the
            # sandbox would record a hit on /_sandbox/stolen.
            port = request.server_url.rsplit(":", 1)[-1]
            return Response(
                302, {"message": "Moved"}, {"Location": f"http://localhost:{port}/_sandbox/stolen"}
            )
        if fault is Fault.MALFORMED:
            return Response(
                200,
                raw=b"<html><body>Gateway says hello</body></html>",
                headers={"Content-Type": "text/html"},
            )
        return None
