"""manage.py check_providers decides whether the run command needs the sandbox."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from providers.settings import ProviderSettings


def test_reachable_hosts_pass(sandbox_settings: ProviderSettings) -> None:
    out = io.StringIO()
    call_command("check_providers", stdout=out)
    assert f"{sandbox_settings.sandbox_url}: answers" in out.getvalue()


def test_unreachable_host_fails_naming_it(settings) -> None:
    settings.PROVIDERS = ProviderSettings.for_sandbox("http://127.0.0.1:1")
    out = io.StringIO()
    with pytest.raises(CommandError, match="unreachable") as raised:
        call_command("check_providers", stdout=out)
    assert raised.value.returncode == 1
    assert "http://127.0.0.1:1: unreachable" in out.getvalue()
