"""Delivery policies: each one a small module owning its task options.

Installed by every app (before user middleware), so ``@app.task`` accepts
their options: ``expires`` (expiry), ``retry_backoff``/``retry_backoff_max``/
``retry_jitter`` (retry), ``soft_time_limit``/``time_limit`` (time limits),
``rate_limit`` (rate limits); revocations and early arrivals own no option.
Each decides through the middleware hooks (``taskqueue.middleware``); the
worker calls only the chain. The table of options, defaults and guarantees
is in docs/taskqueue.md ("Delivery policies").
"""

from __future__ import annotations

from ..middleware import Middleware
from .expiry import Expiry
from .retry import RetryBackoff


def default_policies() -> list[Middleware]:
    """The policy middleware every app installs, in the order they decide.

    Cheap refusals come first (an expired or revoked job spends no rate-limit
    token), deferrals after them.
    """
    from .eta import EarlyArrival
    from .ratelimit import RateLimitPolicy
    from .revoke import RevokePolicy
    from .timelimits import TimeLimits

    return [
        Expiry(),
        RevokePolicy(),
        EarlyArrival(),
        RateLimitPolicy(),
        RetryBackoff(),
        TimeLimits(),
    ]


__all__ = ["default_policies"]
