"""The sandbox HTTP server: all four upstream APIs on one local port.

``SandboxServer(port=0).start()`` serves on a free port in a background
thread (tests); ``manage.py provider_sandbox --port 8765`` serves in the
foreground. Each API lives under its own prefix, the paths that
``PROVIDERS_SANDBOX_URL`` maps the base URLs to (providers.settings'
SANDBOX_PATHS). A few control endpoints sit under ``/_sandbox/``.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from providers.settings import SANDBOX_PATHS

from . import exchange, github, quotes, weather
from .core import FaultBook, Request, Response, Route, json_error

logger = logging.getLogger("providers.sandbox")

SLOW_SECONDS = 30.0
"""How late a ``slow`` answer comes: longer than any sane client timeout."""


def _table(routes: dict[tuple[str, ...], Route]) -> Route:
    def route(request: Request, faults: FaultBook) -> Response:
        handler = routes.get(tuple(request.segments))
        if handler is None:
            return json_error(404, "Not Found")
        return handler(request, faults)

    return route


APIS: dict[str, Route] = {
    SANDBOX_PATHS["weather_geocoding_url"]: _table({("v1", "search"): weather.search}),
    SANDBOX_PATHS["weather_forecast_url"]: _table({("v1", "forecast"): weather.forecast}),
    SANDBOX_PATHS["quotes_url"]: _table(quotes.ROUTES),
    SANDBOX_PATHS["exchange_url"]: exchange.route,
    SANDBOX_PATHS["github_url"]: github.route,
}
"""Path prefix -> the API served there."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Tests start and stop servers quickly; a lingering TIME_WAIT must not block a port.
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], faults: FaultBook) -> None:
        super().__init__(address, _Handler)
        self.faults = faults
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, so the clients' connection pooling is exercised as in production.
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "provider-sandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(self._dispatch("GET"))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(self._dispatch("POST"))

    def _dispatch(self, method: str) -> Response:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        path = parts.path
        faults = self.server.faults
        if path.startswith("/_sandbox/"):
            return self._control(method, path[len("/_sandbox/") :], faults)
        for prefix, route in APIS.items():
            if path == prefix or path.startswith(prefix + "/"):
                segments = [unquote(s) for s in path[len(prefix) :].split("/") if s]
                request = Request(
                    segments=segments,
                    query=query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    server_url=self.server.url,
                    prefix=prefix,
                )
                if method != "GET":
                    return json_error(405, "Method Not Allowed")
                try:
                    return route(request, faults)
                except Exception:
                    logger.exception("sandbox route %s failed", path)
                    return json_error(500, "sandbox error")
        return json_error(404, f"no sandbox API at {path}; see providers/README.md")

    def _control(self, method: str, name: str, faults: FaultBook) -> Response:
        if name == "health":
            return Response(200, {"ok": True, "apis": sorted(APIS)})
        if name == "state":
            return Response(200, {"hits": dict(faults.hits)})
        if name == "reset" and method == "POST":
            faults.reset()
            return Response(200, {"reset": True})
        if name == "stolen":
            # Where redirects point: a hit here means a client followed one.
            faults.count("stolen")
            return Response(200, {"stolen": True})
        return json_error(404, "unknown sandbox control endpoint")

    def _answer(self, response: Response) -> None:
        if response.delay and self.server.stopping.wait(response.delay):
            return  # shutting down: drop the slow answer
        if response.raw is not None:
            body = response.raw
            content_type = response.headers.pop("Content-Type", "application/octet-stream")
        else:
            body = json.dumps(response.body, ensure_ascii=False).encode()
            content_type = "application/json; charset=utf-8"
        try:
            self.send_response(response.status or 200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test); nothing left to tell it.
            self.close_connection = True


class SandboxServer:
    """The sandbox, startable in-process on a free port (``port=0``)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, slow_seconds: float = SLOW_SECONDS
    ) -> None:
        self.faults = FaultBook(slow_seconds)
        self._server = _Server((host, port), self.faults)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``: the value for ``PROVIDERS_SANDBOX_URL``."""
        return self._server.url

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns at once, already accepting connections."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="provider-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (or KeyboardInterrupt)."""
        self._server.serve_forever()

    def reset(self) -> None:
        """Forget every key's history: "once" faults fail again."""
        self.faults.reset()

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
