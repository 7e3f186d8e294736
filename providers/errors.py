"""What can go wrong when a provider calls its upstream API, as typed errors.

Each error says whether trying again can help (``retryable``) and, if so,
how long to wait (``countdown``): the task wrapper turns a retryable error
into ``self.retry(exc=err, countdown=err.countdown(retries))`` and lets a
final one fail the job. The clients never retry by themselves, so every
attempt is visible in the job's history and every wait survives a worker
restart (the framework's retries travel through Kafka delay tiers).

Messages are written for the person who submitted the job ("repository
octo/missing not found"), and ``to_dict()`` is what the UI shows.
"""

from __future__ import annotations

from typing import Any, ClassVar

BACKOFF_BASE = 2.0
"""Seconds before the first retry of an error that gives no hint of its own."""

BACKOFF_MAX = 300.0
"""No countdown is longer than this, whatever an upstream asks for."""


class ProviderError(Exception):
    """Base of every upstream failure. ``code`` is stable; UIs may switch on it."""

    code: ClassVar[str] = "provider_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by Exception's default pickling;
        # the process pool and result stores pickle errors across processes.
        return (_rebuild, (type(self), self.message, self.service, self.status, self.retry_after))

    def countdown(self, retries: int) -> float:
        """Seconds to wait before attempt ``retries + 1``.

        The upstream's own ``Retry-After`` wins when it gave one; otherwise
        exponential backoff (2, 4, 8 ... seconds), capped at BACKOFF_MAX.
        """
        if self.retry_after is not None:
            return min(max(self.retry_after, 0.0), BACKOFF_MAX)
        return min(BACKOFF_BASE * (2 ** max(retries, 0)), BACKOFF_MAX)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape stored as the job's error and shown by the UI."""
        return {
            "code": self.code,
            "message": self.message,
            "service": self.service,
            "status": self.status,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
        }


def _rebuild(
    cls: type[ProviderError],
    message: str,
    service: str,
    status: int | None,
    retry_after: float | None,
) -> ProviderError:
    return cls(message, service=service, status=status, retry_after=retry_after)


class NotFound(ProviderError):
    """The thing asked for does not exist (404, or a search with no match)."""

    code = "not_found"


class RateLimited(ProviderError):
    """The upstream refused because of too many requests (429, GitHub's 403 quota)."""

    code = "rate_limited"
    retryable = True


class UpstreamUnavailable(ProviderError):
    """The upstream is down or unreachable (5xx, refused or reset connections)."""

    code = "upstream_unavailable"
    retryable = True


class UpstreamTimeout(ProviderError):
    """The upstream accepted the connection but did not answer in time."""

    code = "upstream_timeout"
    retryable = True


class UpstreamError(ProviderError):
    """The upstream answered in a way retrying will not fix.

    Other 4xx answers (bad credentials, a request it calls invalid), a
    redirect (never followed: hosts come from settings only), a body that is
    not the JSON we expect, or a body larger than the client accepts.
    """

    code = "upstream_error"
