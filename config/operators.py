"""Who may read the operational pages: ``/status``, ``/metrics`` and the
details of ``/healthz`` (service addresses and errors).

Staff (logged in), or a client whose address is in ``OPERATORS_ALLOWED_IPS``
(Prometheus scrapes /metrics without a session). The address is the direct
peer's (``REMOTE_ADDR``), never a forwarded header a client can write: behind
a proxy, allow the address Prometheus reaches the site from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def allowed_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(network, strict=False)
        for network in settings.OPERATORS_ALLOWED_IPS
    )


def is_operator(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    return allowed_address(request.META.get("REMOTE_ADDR"))


def operators_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403 for everyone else, naming the way in (an operator whose scraper is
    refused needs to know which setting to change)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_operator(request):
            return HttpResponse(
                "staff or an address in OPERATORS_ALLOWED_IPS only",
                status=403,
                content_type="text/plain; charset=utf-8",
            )
        return view(request, *args, **kwargs)

    return guarded
