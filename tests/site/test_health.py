"""The site's health endpoint and home page, over the real services."""

from __future__ import annotations

import dataclasses
import re

import pytest
from django.test import Client

from config.environment import ConfigurationError, Environment


@pytest.mark.usefixtures("kafka_bootstrap", "redis_url", "mongo_url", "rabbitmq_url")
def test_healthz_reports_every_service_answering(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert [s["name"] for s in body["services"]] == ["Kafka", "Redis", "RabbitMQ", "Mongo"]
    assert all(s["error"] is None for s in body["services"])
    assert "guest:guest" not in response.content.decode(), "passwords are redacted"


def test_healthz_names_the_service_that_is_down(client: Client, settings) -> None:
    settings.ENV = dataclasses.replace(settings.ENV, redis_url="redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    redis = next(s for s in response.json()["services"] if s["name"] == "Redis")
    assert redis["address"] == "redis://127.0.0.1:1/0"
    assert "Connection refused" in redis["error"] or "Error" in redis["error"]


@pytest.mark.usefixtures("redis_url")
def test_home_page_lists_services(client: Client) -> None:
    response = client.get("/status")
    assert response.status_code == 200
    assert b"Kafka" in response.content and b"answering" in response.content


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REDIS_URL": "http://127.0.0.1:6379"},
            "REDIS_URL='http://127.0.0.1:6379' must start with redis://",
        ),
        ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "'localhost' is not host:port"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT='70000' is outside 1-65535"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "false"}, "SECRET_KEY is not set"),
        ({"MONGO_URL": "mongodb://"}, "MONGO_URL='mongodb://' names no host"),
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Environment.for_site(env)


def test_ports_move_the_default_urls_with_them() -> None:
    env = Environment.from_env({"REDIS_PORT": "6390", "KAFKA_PORT": "9192"})
    assert env.redis_url == "redis://127.0.0.1:6390/0"
    assert env.kafka_bootstrap_servers == "127.0.0.1:9192"
    assert env.database_url.startswith("sqlite:///")


def test_prometheus_metrics_are_exposed(client: Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_before_middlewares_total" in response.content


@pytest.mark.usefixtures("redis_url")
def test_home_page_says_when_jobs_use_the_offline_sandbox(client: Client, settings) -> None:
    from providers.settings import ProviderSettings

    settings.PROVIDERS = ProviderSettings.for_sandbox("http://127.0.0.1:8765")
    response = client.get("/status")
    assert b"Offline sandbox" in response.content and b"http://127.0.0.1:8765" in response.content
