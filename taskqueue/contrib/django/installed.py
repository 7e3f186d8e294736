"""The installed apps' package names, for ``app.autodiscover_tasks()``
(``taskqueue.discovery``): Celery's Django fixup, the part that knows Django."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings


def installed_packages(setup: bool) -> list[str] | None:
    """Names of the installed apps; None while the registry is not ready and
    ``setup`` is false (or Django is populating it: importing task modules
    then would import models too early)."""
    if not apps.ready:
        if not setup or apps.loading or not settings.configured and not _settings_module():
            return None
        from . import _setup_django

        _setup_django()
    return [config.name for config in apps.get_app_configs()]


def _settings_module() -> bool:
    import os

    return bool(os.environ.get("DJANGO_SETTINGS_MODULE"))
