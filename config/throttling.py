"""What a login refused by django-axes answers: 429, and when to try again.

Axes counts failed logins per username and address (settings ``AXES_*``) on
every path that calls ``authenticate()``: ``/accounts/login/``,
``/admin/login/`` and the GraphQL ``login`` mutation. Its middleware hands a
locked-out request to :func:`lockout_response`, which tells the client when
the lock ends: a ``Retry-After`` header, and the moment in the message.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

THROTTLED = "THROTTLED"
"""The GraphQL error code of a refused login."""


def retry_at(request: HttpRequest, credentials: dict[str, Any] | None) -> datetime:
    """When the lock of this username and address ends: the last recorded
    failure plus the cool-off (axes does not record attempts made while locked,
    so the moment does not move while the client waits)."""
    cool_off = get_cool_off(request) or timedelta(0)
    last = AccessAttempt.objects.filter(
        username=get_client_username(request, credentials),
        ip_address=get_client_ip_address(request),
    ).aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + cool_off


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``. Axes calls it as ``(request, response,
    credentials)`` from synchronous code and ``(request, credentials)`` from
    asynchronous code: the credentials are the last positional dict."""
    credentials = next((a for a in reversed(args) if isinstance(a, dict)), None)
    credentials = kwargs.get("credentials", credentials)
    until = retry_at(request, credentials)
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    message = (
        f"too many failed logins: try again in {seconds} seconds "
        f"(after {until.replace(microsecond=0).isoformat()})"
    )
    if request.path.rstrip("/").endswith("graphql"):
        response: HttpResponse = JsonResponse(
            {
                "errors": [
                    {
                        "message": message,
                        "extensions": {
                            "code": THROTTLED,
                            "retryAfter": seconds,
                            "retryAt": until.isoformat(),
                        },
                    }
                ]
            },
            status=429,
        )
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds)
    return response
