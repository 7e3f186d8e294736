"""Delivery policies: each one a small module owning its task options.

Installed by every app (before user middleware), so ``@app.task`` accepts
their options: ``expires`` (expiry), ``retry_backoff``/``retry_backoff_max``/
``retry_jitter`` (retry), ``soft_time_limit``/``time_limit`` (time limits),
``rate_limit`` (rate limits). The table of options, defaults and guarantees
is in docs/taskqueue.md ("Delivery policies").
"""

from __future__ import annotations

from ..middleware import Middleware
from .expiry import Expiry
from .retry import RetryBackoff


def default_policies() -> list[Middleware]:
    """The policy middleware every app installs."""
    from .ratelimit import RateLimitPolicy
    from .timelimits import TimeLimits

    return [Expiry(), RetryBackoff(), TimeLimits(), RateLimitPolicy()]


__all__ = ["default_policies"]
