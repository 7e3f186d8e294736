"""ASGI entry point: HTTP goes to Django, websockets at /graphql to the
graphql-transport-ws consumer (progress.consumer).

Websockets are not covered by CSRF protection, so a cross-site page could
open one with the visitor's session cookie. progress.handshake sorts the
handshakes: a browser's (it sends Origin) must come from one of ALLOWED_HOSTS
and may use its session; any other is authenticated by an API token only.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before the consumers (and their models) are imported.
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from progress.handshake import BrowserOrTokenGate  # noqa: E402
from progress.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": BrowserOrTokenGate(URLRouter(websocket_urlpatterns)),
    }
)
