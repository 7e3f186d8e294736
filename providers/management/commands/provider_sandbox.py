"""``manage.py provider_sandbox``: serve the offline provider sandbox."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.sandbox.server import SLOW_SECONDS, SandboxServer


class Command(BaseCommand):
    help = (
        "Serve the offline provider sandbox (Open-Meteo, Quotable, Frankfurter and GitHub "
        "look-alikes with scripted failures). Point the providers at it with "
        "PROVIDERS_SANDBOX_URL=http://HOST:PORT."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
        parser.add_argument(
            "--slow-seconds",
            type=float,
            default=SLOW_SECONDS,
            help="how late the 'slow' triggers answer",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            server = SandboxServer(
                options["host"], options["port"], slow_seconds=options["slow_seconds"]
            )
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc.strerror or exc}"
            ) from None
        self.stdout.write(f"provider sandbox at {server.url}")
        self.stdout.write(f"use it with PROVIDERS_SANDBOX_URL={server.url}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
