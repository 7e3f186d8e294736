"""The one way providers talk HTTP: pooled httpx clients, fixed hosts, typed errors.

- **Pooling.** One ``httpx.Client`` per endpoint per process, shared by every
  job a worker runs, so consecutive pages and jobs reuse warm connections.
  Clients are created on first use (never at import) and recreated after a
  fork, since a connection inherited from the parent is shared by two
  processes.
- **Fixed hosts.** A request is built from the endpoint's base URL (from
  settings) and path *segments*, each percent-encoded on its own, so a
  parameter can fill a segment or a query value but can never add a host,
  a scheme, ``..`` or a second path. The built URL is checked to still point
  at the base host, and redirects are refused, not followed.
- **Errors.** Every outcome that is not a JSON 2xx becomes one of the errors
  in :mod:`providers.errors`. No retry happens here: the task decides, through
  the framework's ``self.retry``, using the error's ``retryable`` and
  ``countdown``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .errors import (
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("providers.http")

Progress = Callable[[int, int, str], None]
"""``progress(current, total, message)``: called after each page, place or chunk."""

MAX_BODY_BYTES = 5 * 1024 * 1024
"""A response body larger than this is refused: no provider needs more per page."""

USER_AGENT = "taskqueue-providers/0.1 (+https://github.com/)"
"""Public APIs ask callers to identify themselves; GitHub requires a User-Agent."""

POOL_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)
"""Per endpoint and process; a worker's thread pool shares these connections."""


def no_progress(current: int, total: int, message: str) -> None:
    """The progress callback used when the caller passes none."""


class UnsafeRequest(ValueError):
    """A request would leave its base URL. Validation should have caught it first."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call one upstream API (all of it from settings)."""

    service: str
    base_url: str
    timeout: float
    connect_timeout: float
    # Out of repr: GitHub's token travels in here.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Reply:
    """A successful answer: the decoded JSON body and the response headers."""

    data: Any
    headers: httpx.Headers
    status: int


class ClientPool:
    """Process-wide httpx clients, one per endpoint, created lazily."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[Endpoint, httpx.Client] = {}
        self._pid = os.getpid()

    def client(self, endpoint: Endpoint) -> httpx.Client:
        with self._lock:
            if self._pid != os.getpid():
                # Forked: the parent's sockets are not ours to use or close.
                self._clients = {}
                self._pid = os.getpid()
            client = self._clients.get(endpoint)
            if client is None:
                client = httpx.Client(
                    timeout=httpx.Timeout(endpoint.timeout, connect=endpoint.connect_timeout),
                    limits=POOL_LIMITS,
                    follow_redirects=False,
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    # Proxies from the environment would route traffic to a host
                    # the settings never named.
                    trust_env=False,
                )
                self._clients[endpoint] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()


DEFAULT_POOL = ClientPool()
"""Shared by all providers in a process (holds no connection until first use)."""


def build_url(base_url: str, segments: Sequence[str]) -> httpx.URL:
    """``base_url`` plus percent-encoded path segments; never another host."""
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafeRequest(f"path segment {segment!r} is not allowed")
    path = "/".join(quote(segment, safe="") for segment in segments)
    base = httpx.URL(base_url)
    url = httpx.URL(base_url.rstrip("/") + "/" + path)
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        raise UnsafeRequest(f"{url} is not under {base_url}")
    return url


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    An HTTP-date in the past means "now" (0); anything unparseable means the
    upstream gave no usable hint (None), and the caller's backoff applies.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _rate_limit_reset(headers: httpx.Headers) -> float | None:
    """GitHub's primary rate limit: seconds until ``X-RateLimit-Reset`` (epoch)."""
    raw = headers.get("x-ratelimit-reset", "")
    if not raw.isdigit():
        return None
    return max(0.0, int(raw) - time.time())


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, TypeError):
        return ""


def _upstream_message(body: bytes) -> str:
    """The reason an API gave in its error body, if it gave one (shortened)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    for key in ("message", "reason", "statusMessage", "error"):
        if isinstance(data.get(key), str):
            return data[key][:200]
    return ""


class UpstreamClient:
    """GET JSON from one endpoint, mapping every failure to a typed error."""

    def __init__(self, endpoint: Endpoint, pool: ClientPool | None = None) -> None:
        self.endpoint = endpoint
        self.pool = pool or DEFAULT_POOL

    @property
    def service(self) -> str:
        return self.endpoint.service

    def get_json(
        self,
        segments: Sequence[str],
        params: Mapping[str, str | int | float] | None = None,
        *,
        not_found: str,
    ) -> Reply:
        """GET ``base/segments?params``; ``not_found`` is the 404 message for people."""
        url = build_url(self.endpoint.base_url, segments)
        client = self.pool.client(self.endpoint)
        request = client.build_request(
            "GET", url, params=dict(params or {}), headers=dict(self.endpoint.headers)
        )
        started = time.monotonic()
        try:
            response = client.send(request, stream=True)
            try:
                body = self._read_body(response)
            finally:
                response.close()
        except httpx.ConnectTimeout:
            raise UpstreamUnavailable(
                f"{self.service} could not be reached within {self.endpoint.connect_timeout:g}s",
                service=self.service,
            ) from None
        except httpx.TimeoutException:
            raise UpstreamTimeout(
                f"{self.service} did not answer within {self.endpoint.timeout:g}s",
                service=self.service,
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"{self.service} is unreachable ({type(exc).__name__}: {exc})",
                service=self.service,
            ) from None
        logger.debug(
            "%s GET %s -> %s in %.0f ms",
            self.service,
            url.path,
            response.status_code,
            1000 * (time.monotonic() - started),
        )
        if response.is_success:
            if not body.strip():
                # GitHub answers 204 with no body, e.g. contributors of an empty repo.
                return Reply(None, response.headers, response.status_code)
            try:
                data = json.loads(body)
            except ValueError:
                raise UpstreamError(
                    f"{self.service} answered with something that is not JSON",
                    service=self.service,
                    status=response.status_code,
                ) from None
            return Reply(data, response.headers, response.status_code)
        raise self._error(response, body, not_found)

    def _read_body(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise self._too_large(response)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise self._too_large(response)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, response: httpx.Response) -> UpstreamError:
        return UpstreamError(
            f"{self.service} sent more than {MAX_BODY_BYTES // (1024 * 1024)} MiB; refused",
            service=self.service,
            status=response.status_code,
        )

    def _error(self, response: httpx.Response, body: bytes, not_found: str) -> Exception:
        status = response.status_code
        headers = response.headers
        said = _upstream_message(body)
        detail = f" ({said})" if said else ""
        kw: dict[str, Any] = {"service": self.service, "status": status}
        if status == 404:
            return NotFound(not_found, **kw)
        if status == 429 or (status == 403 and headers.get("x-ratelimit-remaining") == "0"):
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None:
                wait = _rate_limit_reset(headers)
            when = f"; retry in {wait:.0f}s" if wait is not None else ""
            return RateLimited(f"{self.service} rate limit reached{when}", retry_after=wait, **kw)
        if status >= 500:
            return UpstreamUnavailable(
                f"{self.service} is unavailable (HTTP {status}){detail}",
                retry_after=parse_retry_after(headers.get("retry-after")),
                **kw,
            )
        if status == 408:
            return UpstreamTimeout(f"{self.service} timed out (HTTP 408)", **kw)
        if 300 <= status < 400:
            target = _host_of(headers.get("location", "")) or "elsewhere"
            return UpstreamError(
                f"{self.service} redirected to {target}; redirects are not followed",
                **kw,
            )
        if status in (401, 403):
            return UpstreamError(f"{self.service} refused access (HTTP {status}){detail}", **kw)
        return UpstreamError(f"{self.service} rejected the request (HTTP {status}){detail}", **kw)


def malformed(service: str, what: str) -> UpstreamError:
    """The error for a 2xx body that lacks what the API documents."""
    return UpstreamError(f"{service} sent an unexpected response: {what}", service=service)
