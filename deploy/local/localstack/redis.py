"""Redis from Debian's package, run in the foreground under the stack."""

from __future__ import annotations

import shutil

from . import installers
from .service import Service


class Redis(Service):
    name = "redis"
    start_timeout = 20.0

    def install(self) -> None:
        if shutil.which("redis-server") is None:
            installers.apt_install("redis-server")

    def prepare(self) -> None:
        self.layout.data(self.name).mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--daemonize",
            "no",
            "--dir",
            str(self.layout.data(self.name)),
            # Revocations and canvas counters live here too: keep an append-only
            # file so a restart of Redis does not forget them.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
        ]

    def describe(self) -> str:
        return "Redis (Debian package)"
