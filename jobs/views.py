"""Small HTTP endpoints around the GraphQL API for browser clients."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET


@require_GET
@ensure_csrf_cookie
def csrf(request: HttpRequest) -> JsonResponse:
    """Sets the CSRF cookie and returns the token, for the UI's first POST.

    Session requests to /graphql (login included) must send it back in the
    ``X-CSRFToken`` header.
    """
    user = request.user
    return JsonResponse(
        {
            "csrfToken": get_token(request),
            "authenticated": bool(user.is_authenticated),
            "username": user.get_username() if user.is_authenticated else None,
        }
    )
