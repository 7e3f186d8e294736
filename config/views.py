"""Site-level views: the home page and the health endpoint."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from config.health import check_all


def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's round trip; 503 when any of them fails (for probes)."""
    services = check_all(settings.ENV)
    body = {
        "ok": all(s.ok for s in services),
        "services": [{"name": s.name, "address": s.address, "error": s.error} for s in services],
    }
    return JsonResponse(body, status=200 if body["ok"] else 503)


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "home.html",
        {"services": check_all(settings.ENV), "providers": settings.PROVIDERS},
    )
