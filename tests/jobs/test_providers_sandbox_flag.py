"""The API tells clients whether jobs call the offline provider sandbox."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from providers.settings import ProviderSettings

QUERY = '{"query": "{ providers { name sandbox } }"}'


@pytest.mark.django_db
@pytest.mark.parametrize("sandbox_url", ["", "http://127.0.0.1:8765"])
def test_providers_say_whether_the_sandbox_answers(client: Client, settings, sandbox_url) -> None:
    settings.PROVIDERS = (
        ProviderSettings.for_sandbox(sandbox_url) if sandbox_url else ProviderSettings()
    )
    client.force_login(get_user_model().objects.create_user("carol", password="pw-carol-123"))
    response = client.post("/graphql", QUERY, content_type="application/json")
    providers = response.json()["data"]["providers"]
    assert {p["name"] for p in providers} == {"weather", "quote", "exchange", "github"}
    assert all(p["sandbox"] is bool(sandbox_url) for p in providers)
