"""Bearer-token authentication for programmatic clients.

`Authorization: Bearer <token>` authenticates the request as the token's
user. Such requests carry no cookies a browser could forge, so CSRF checks
are skipped for them; the session path keeps Django's CSRF protection.
A bearer header that does not match a live token (unknown, revoked or
expired: one answer for all three) is refused outright rather than silently
treated as anonymous, so a client with a typo hears about it. The token is
kept on ``request.api_token``: its ``read_only`` scope is enforced by
jobs.api.operation_rules.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from jobs.models import ApiToken


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = bearer_token(request)
        if token is not None:
            api_token = ApiToken.verify(token) if token else None
            if api_token is None:
                return JsonResponse(
                    {
                        "errors": [
                            {
                                "message": "The API token is invalid or revoked; "
                                "create one with `manage.py create_api_token`."
                            }
                        ]
                    },
                    status=401,
                )
            request.user = api_token.user
            request.api_token = api_token  # type: ignore[attr-defined]
            # Django's documented flag (not in its type stubs): a bearer token
            # is not a cookie, so a CSRF token has nothing to protect here.
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]  # noqa: SLF001
        return self.get_response(request)
