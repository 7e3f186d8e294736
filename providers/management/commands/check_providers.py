"""manage.py check_providers: can this machine reach the provider APIs?

Exit status 0 when every configured upstream host answers over HTTP (any
status counts: a 404 from the host's root still proves the route works),
1 otherwise. The run command uses it to fall back to the offline sandbox.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from django.core.management.base import BaseCommand, CommandError

from providers.conf import provider_settings

TIMEOUT_SECONDS = 4.0


class Command(BaseCommand):
    help = "Check that the provider APIs' hosts answer (exit 1 if any does not)."

    def handle(self, *args, **options) -> None:
        config = provider_settings()
        hosts = sorted(
            {
                f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
                for url in (
                    config.weather_geocoding_url,
                    config.weather_forecast_url,
                    config.quotes_url,
                    config.exchange_url,
                    config.github_url,
                )
            }
        )
        unreachable = []
        with httpx.Client(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
            for host in hosts:
                try:
                    client.head(host)
                except httpx.HTTPError as exc:
                    unreachable.append(host)
                    self.stdout.write(f"{host}: unreachable ({exc.__class__.__name__})")
                else:
                    self.stdout.write(f"{host}: answers")
        if unreachable:
            raise CommandError(f"{len(unreachable)} provider host(s) unreachable", returncode=1)
