"""Production defaults (issue 17, item 2): DEBUG off unless asked, Django's
deploy check, no GraphiQL or introspection, no internal text in API errors,
operational pages for operators only."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from graphql import GraphQLError

from config.environment import PROJECT_ROOT, ConfigurationError, Environment
from jobs.api.error_ids import client_error
from jobs.errors import JobError
from jobs.taskapp import use_app
from taskqueue.contrib.django import django_app

PRODUCTION_ENV = {
    "SECRET_KEY": "x9!Vq2#pL7zR4mW8kT1nB6yH3jF5sD0gA-cE_uI+oP=lK9hG$tY7uJ2",
    "ALLOWED_HOSTS": "tq.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
}


@pytest.mark.fast
def test_debug_is_off_unless_asked_and_then_needs_a_secret_key() -> None:
    assert Environment.from_env({}).debug is False
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        Environment.for_site({})
    production = Environment.for_site(PRODUCTION_ENV)
    assert production.ssl_redirect and production.hsts_seconds == 31_536_000
    assert not production.graphql_introspection and production.operators_allowed_ips == ()
    assert production.secure_proxy_ssl_header == ("HTTP_X_FORWARDED_PROTO", "https")
    local = Environment.for_site({"DEBUG": "true"})
    assert local.graphql_introspection and "127.0.0.1" in local.operators_allowed_ips


@pytest.mark.fast
def test_a_bad_allow_list_fails_fast_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="OPERATORS_ALLOWED_IPS='prometheus'"):
        Environment.from_env({"OPERATORS_ALLOWED_IPS": "prometheus"})


def test_deploy_check_passes_with_the_production_settings(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="config.settings")
    env["STACK_HOME"] = str(tmp_path)  # a database of its own, never the tests'
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    settings_seen = subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(settings_seen.stdout.splitlines()[-1]) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "GRAPHQL_INTROSPECTION": False,
    }


_PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
         "SECURE_HSTS_SECONDS", "GRAPHQL_INTROSPECTION"]
print(json.dumps({n: getattr(s, n) for n in names}))
"""


@pytest.mark.django_db
def test_create_demo_user_refuses_with_debug_off(settings: Any) -> None:
    settings.ENV = dataclasses.replace(settings.ENV, debug=False)
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("create_demo_user", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="demo").exists()


@pytest.mark.django_db
def test_graphiql_is_served_only_with_debug_on(client: Client, settings: Any) -> None:
    settings.DEBUG = False
    page = client.get("/graphql", HTTP_ACCEPT="text/html")
    assert "graphiql" not in page.content.decode().lower()
    settings.DEBUG = True
    assert "graphiql" in client.get("/graphql", HTTP_ACCEPT="text/html").content.decode().lower()


@pytest.mark.django_db
def test_introspection_is_refused_unless_the_setting_allows_it(gql: Any, settings: Any) -> None:
    settings.GRAPHQL_INTROSPECTION = False
    refused = gql("{ __schema { queryType { name } } }")
    assert "introspection" in refused["errors"][0]["message"].lower()
    assert gql("{ __typename }")["data"] == {"__typename": "Query"}, "typename is no introspection"
    settings.GRAPHQL_INTROSPECTION = True
    assert gql("{ __schema { queryType { name } } }")["data"]["__schema"]["queryType"]["name"]


@pytest.mark.django_db
def test_a_store_that_is_down_reaches_the_client_as_an_id_only(
    alice: Any, client: Client, caplog: Any, unique_name: str
) -> None:
    app = django_app("security-test", redis_url="redis://127.0.0.1:1/0", key_prefix=unique_name)
    client.force_login(alice)
    with use_app(app), caplog.at_level(logging.ERROR, logger="jobs.api.errors"):
        response = client.post(
            "/graphql", json.dumps({"query": "{ workers { name } }"}), "application/json"
        )
    app.close()
    error = response.json()["errors"][0]
    error_id = error["extensions"]["errorId"]
    assert error["message"] == f"worker heartbeats unavailable (id {error_id})"
    assert "127.0.0.1:1" not in response.content.decode(), "the address stays in the log"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert error_id in logged and "127.0.0.1:1" in logged


@pytest.mark.fast
def test_an_unexpected_exception_is_sent_as_an_id_and_logged_whole(caplog: Any) -> None:
    raised = GraphQLError(
        "Error 111 connecting to 10.0.0.5:6379",
        path=["job", "result"],
        original_error=ConnectionError("Error 111 connecting to 10.0.0.5:6379"),
    )
    with caplog.at_level(logging.ERROR, logger="jobs.api.errors"):
        sent = client_error(raised)
    error_id = sent["extensions"]["errorId"]
    assert sent["message"] == f"internal error (id {error_id})" and sent["path"] == [
        "job",
        "result",
    ]
    assert "10.0.0.5" not in json.dumps(sent)
    assert error_id in caplog.text and "10.0.0.5:6379" in caplog.text
    refusal = GraphQLError("no job with id 1", original_error=JobError.one("id", "not_found", "x"))
    assert client_error(refusal)["message"] == "no job with id 1", "refusals go out as written"


@pytest.mark.django_db
def test_operational_pages_are_for_operators_only(
    client: Client, staff: Any, settings: Any, redis_url: str
) -> None:
    settings.OPERATORS_ALLOWED_IPS = ("10.0.0.0/8",)
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outsider).status_code == 403
    assert client.get("/status", **outsider).status_code == 403
    health = client.get("/healthz", **outsider).json()
    assert [set(s) for s in health["services"]] == [{"name", "ok"}] * 4, "no addresses"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    client.force_login(staff)
    assert client.get("/metrics", **outsider).status_code == 200
    assert client.get("/status", **outsider).status_code == 200
    assert "address" in client.get("/healthz", **outsider).json()["services"][0]
