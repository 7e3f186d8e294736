"""Who a websocket handshake may authenticate as: browser or API client.

Browsers always send ``Origin`` on a websocket handshake, and attach the
site's session cookie whichever page opened the socket. Websockets have no
CSRF protection, so a browser handshake must come from one of our own pages:
Channels' ``AllowedHostsOriginValidator`` refuses any other Origin (HTTP 403),
and only then does the session authenticate the socket.

A handshake without ``Origin`` is not a browser's (a Node or Python
``graphql-ws`` client): nothing a third-party page could forge, so it is
accepted, its cookies are dropped unread, and it is authenticated only by the
token in ``connection_init`` (``connectionParams: {authorization: "Bearer
<token>"}``); the consumer refuses it without one.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator

CREDENTIALS = "credentials"
"""Scope key: which credentials the handshake may use, SESSION or TOKEN."""
SESSION = "session"
TOKEN = "token"


class BrowserOrTokenGate:
    """ASGI middleware in front of the websocket router (config/asgi.py)."""

    def __init__(self, inner: Any) -> None:
        self.browser = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))
        self.token_client = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope.get("headers") or []
        if any(name.lower() == b"origin" for name, _ in headers):
            return await self.browser({**scope, CREDENTIALS: SESSION}, receive, send)
        from django.contrib.auth.models import AnonymousUser

        without_cookies = [(n, v) for n, v in headers if n.lower() != b"cookie"]
        return await self.token_client(
            {**scope, "headers": without_cookies, "user": AnonymousUser(), CREDENTIALS: TOKEN},
            receive,
            send,
        )
