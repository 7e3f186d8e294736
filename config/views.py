"""Site-level views: the home page and the health endpoint."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from config.health import ServiceHealth, check_all
from config.operators import is_operator, operators_only


def cached_health() -> list[ServiceHealth]:
    """The services' round trips, at most ``HEALTHZ_CACHE_SECONDS`` old: a probe
    (or anyone on the internet) asking often costs the services nothing more.
    Keyed by the addresses, so a changed configuration is checked afresh."""
    env = settings.ENV
    key = "healthz:" + "|".join(
        (env.kafka_bootstrap_servers, env.redis_url, env.rabbitmq_url, env.mongo_url)
    )
    services = cache.get(key)
    if services is None:
        services = check_all(env)
        cache.set(key, services, settings.HEALTHZ_CACHE_SECONDS)
    return services


def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's round trip; 503 when any of them fails (for probes).

    Everyone sees which service is down; only operators (config.operators)
    see the addresses and the errors, which name internal hosts.
    """
    services = cached_health()
    detailed = is_operator(request)
    body = {
        "ok": all(s.ok for s in services),
        "services": [
            {"name": s.name, "ok": s.ok}
            | ({"address": s.address, "error": s.error} if detailed else {})
            for s in services
        ],
    }
    return JsonResponse(body, status=200 if body["ok"] else 503)


@never_cache
@ensure_csrf_cookie
def ui(request: HttpRequest, **route: str) -> HttpResponse:
    """The React app's index.html for each of its client-side routes.

    Never cached (it names the content-hashed assets of the current build),
    and it sets the CSRF cookie the app sends back on every session POST.
    """
    index = settings.UI_BUILD_DIR / "index.html"
    try:
        return HttpResponse(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return HttpResponse(
            "The web UI is not built yet: run scripts/install (or `npm run build` in "
            "frontend/). The API is at /graphql and the service status at /status.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )


@operators_only
def status(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "home.html",
        {"services": check_all(settings.ENV), "providers": settings.PROVIDERS},
    )
