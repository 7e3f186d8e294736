"""Where providers find their settings: Django's ``PROVIDERS``, else the environment.

Providers run inside Django (the site, ``manage.py worker``) and, like the
framework, in plain Python processes; both read the same
:class:`providers.settings.ProviderSettings`.
"""

from __future__ import annotations

import os

from providers.settings import ProviderSettings


def provider_settings() -> ProviderSettings:
    """The settings in force now (re-read per call, so test overrides apply)."""
    from django.conf import settings

    if settings.configured:
        value = getattr(settings, "PROVIDERS", None)
        if isinstance(value, ProviderSettings):
            return value
        if value is not None:
            raise TypeError(
                f"settings.PROVIDERS must be a providers.settings.ProviderSettings, "
                f"got {type(value).__name__}"
            )
    return ProviderSettings.from_env(os.environ)
