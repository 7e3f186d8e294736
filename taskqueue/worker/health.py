"""The worker's HTTP health endpoint, for Kubernetes probes and load balancers.

``GET /healthz`` answers 200 while the worker consumes, and 503 while it
cannot do its work (a store it needs is down, or it is shutting down), with
the reason in the JSON body. Served only when ``health_port`` is set. It
reads the poll loop's published snapshot, never the loop itself, so a probe
costs the loop nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .snapshot import LoopSnapshot

logger = logging.getLogger("taskqueue.worker")


def health_of(name: str, snapshot: LoopSnapshot | None) -> tuple[int, dict[str, object]]:
    """The HTTP status and body that describe the worker now."""
    body: dict[str, object] = {"worker": name}
    if snapshot is None:
        return 503, {**body, "status": "starting"}
    if snapshot.problem:
        since = snapshot.problem_since
        return 503, {
            **body,
            "status": "unhealthy",
            "problem": snapshot.problem,
            "seconds": round(time.time() - since, 1) if since is not None else None,
        }
    if snapshot.stopping:
        return 503, {**body, "status": "stopping"}
    return 200, {**body, "status": "ok", "active": len(snapshot.active)}


class HealthServer:
    """``/healthz`` on ``host:port`` in a daemon thread."""

    def __init__(
        self, name: str, snapshot: Callable[[], LoopSnapshot | None], host: str, port: int
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/healthz":
                    self.send_error(404, "only /healthz is served here")
                    return
                status, body = health_of(outer.name, snapshot())
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would flood the worker's log

        self.name = name
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="taskqueue-health", daemon=True
        )

    def start(self) -> HealthServer:
        self._thread.start()
        logger.info("health endpoint on http://%s:%d/healthz", *self.server.server_address[:2])
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
