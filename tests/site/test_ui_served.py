"""Django serves the built React app on the same origin as the API."""

from __future__ import annotations

import re

import pytest
from django.test import Client


@pytest.mark.parametrize("path", ["/", "/login", "/submit", "/jobs", "/jobs/0b7e/", "/workers/"])
def test_client_routes_get_the_app_with_a_csrf_cookie(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert b'<div id="root">' in response.content
    assert "csrftoken" in response.cookies
    assert "no-cache" in response["Cache-Control"]


def test_the_apps_assets_are_served(client: Client) -> None:
    index = client.get("/").content.decode()
    assets = re.findall(r'(?:src|href)="(/static/app/assets/[^"]+)"', index)
    assert assets, "index.html names its built assets"
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100


def test_unknown_paths_are_not_the_app(client: Client) -> None:
    assert client.get("/nope/deeper/still").status_code == 404
