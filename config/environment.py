"""Every environment variable the project reads, read here and nowhere else.

Standard library only: the local stack scripts (``deploy/local``) import this
module before any virtualenv exists, so the ports they start services on and
the URLs the application connects to come from the same definitions.

Defaults point at the local stack on loopback. A malformed value fails fast
with a :class:`ConfigurationError` naming the variable and the value.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from providers.settings import ProviderSettings, ProviderSettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root; the local stack keeps its state below it."""

DEV_SECRET_KEY = "dev-insecure-key-change-me-for-anything-but-local-use"
"""Used only when DEBUG is on and no SECRET_KEY is given."""

LOCAL_OPERATORS = "127.0.0.1,::1"
"""Who may read /status and /metrics by address when DEBUG is on (the local
stack's Prometheus scrapes from loopback)."""

HSTS_SECONDS = 31_536_000
"""One year: what browsers' preload lists and ``check --deploy`` expect."""


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class ServicePorts:
    """Loopback ports of the local stack's services (each one configurable)."""

    kafka: int = 9092
    kafka_controller: int = 9093
    redis: int = 6379
    rabbitmq: int = 5672
    rabbitmq_dist: int = 25672
    mongo: int = 27017
    postgres: int = 5432
    http: int = 8000

    ENV_NAMES = {
        "kafka": "KAFKA_PORT",
        "kafka_controller": "KAFKA_CONTROLLER_PORT",
        "redis": "REDIS_PORT",
        "rabbitmq": "RABBITMQ_PORT",
        "rabbitmq_dist": "RABBITMQ_DIST_PORT",
        "mongo": "MONGO_PORT",
        "postgres": "POSTGRES_PORT",
        "http": "HTTP_PORT",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServicePorts:
        values = {}
        for attr, name in cls.ENV_NAMES.items():
            if name in env:
                values[attr] = _port(env, name)
        return cls(**values)


@dataclass(frozen=True)
class Environment:
    """The project's settings as read from the environment."""

    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    database_url: str
    kafka_bootstrap_servers: str
    redis_url: str
    mongo_url: str
    rabbitmq_url: str
    stack_home: Path
    ports: ServicePorts = field(default_factory=ServicePorts)
    kafka_brokers: int = 1
    """KAFKA_BROKERS: nodes of the local stack's Kafka (3 runs a real cluster)."""
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    operators_allowed_ips: tuple[str, ...] = ()
    """OPERATORS_ALLOWED_IPS: addresses or networks that may read /status and
    /metrics without logging in (the direct peer's address, never a header)."""
    secure_proxy_ssl_header: tuple[str, str] | None = None
    """SECURE_PROXY_SSL_HEADER, e.g. ``X-Forwarded-Proto: https``: set it only
    behind a proxy that always sets (or strips) that header."""
    ssl_redirect: bool = False
    """SECURE_SSL_REDIRECT: redirect plain HTTP to HTTPS (default: on when DEBUG is off)."""
    hsts_seconds: int = 0
    """SECURE_HSTS_SECONDS (default: a year when DEBUG is off, 0 when on)."""
    graphql_introspection: bool = True
    """GRAPHQL_INTROSPECTION: answer ``__schema``/``__type`` (default: only when DEBUG is on)."""

    @classmethod
    def for_site(cls, env: Mapping[str, str] | None = None) -> Environment:
        """The environment the Django site runs with: :meth:`from_env` plus the
        settings that only the site needs (the local stack's tools read
        :meth:`from_env` and need no secret key)."""
        read = cls.from_env(env)
        if not read.secret_key:
            raise ConfigurationError("SECRET_KEY is not set; it is required when DEBUG is off")
        return read

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if env is None else env
        ports = ServicePorts.from_env(env)
        # Off unless asked for: a forgotten variable must not ship a debug site.
        debug = _bool(env, "DEBUG", default=False)
        secret_key = env.get("SECRET_KEY", "") or (DEV_SECRET_KEY if debug else "")
        stack_home = Path(env.get("STACK_HOME", str(PROJECT_ROOT / ".stack")))
        kafka_brokers = _count(env, "KAFKA_BROKERS", default=1)
        # The local stack's cluster nodes listen on KAFKA_PORT + 2(i-1).
        kafka_nodes = ",".join(f"127.0.0.1:{ports.kafka + 2 * i}" for i in range(kafka_brokers))
        return cls(
            debug=debug,
            secret_key=secret_key,
            allowed_hosts=tuple(
                h.strip()
                for h in env.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
                if h.strip()
            ),
            database_url=_url(
                env,
                "DATABASE_URL",
                f"sqlite:///{stack_home / 'django.sqlite3'}",
                schemes=("sqlite", "postgres", "postgresql"),
            ),
            kafka_bootstrap_servers=_bootstrap(env, "KAFKA_BOOTSTRAP_SERVERS", kafka_nodes),
            redis_url=_url(
                env, "REDIS_URL", f"redis://127.0.0.1:{ports.redis}/0", schemes=("redis", "rediss")
            ),
            mongo_url=_url(
                env,
                "MONGO_URL",
                f"mongodb://127.0.0.1:{ports.mongo}/taskqueue",
                schemes=("mongodb", "mongodb+srv"),
            ),
            rabbitmq_url=_url(
                env,
                "RABBITMQ_URL",
                f"amqp://guest:guest@127.0.0.1:{ports.rabbitmq}/%2F",
                schemes=("amqp", "amqps"),
            ),
            stack_home=stack_home,
            ports=ports,
            kafka_brokers=kafka_brokers,
            providers=_providers(env),
            operators_allowed_ips=_networks(
                env, "OPERATORS_ALLOWED_IPS", LOCAL_OPERATORS if debug else ""
            ),
            secure_proxy_ssl_header=_proxy_header(env, "SECURE_PROXY_SSL_HEADER"),
            ssl_redirect=_bool(env, "SECURE_SSL_REDIRECT", default=not debug),
            hsts_seconds=_count(
                env, "SECURE_HSTS_SECONDS", default=0 if debug else HSTS_SECONDS, minimum=0
            ),
            graphql_introspection=_bool(env, "GRAPHQL_INTROSPECTION", default=debug),
        )


def _providers(env: Mapping[str, str]) -> ProviderSettings:
    # The providers app reads its own variables; a bad one is reported like
    # any other setting of the project.
    try:
        return ProviderSettings.from_env(env)
    except ProviderSettingsError as exc:
        raise ConfigurationError(str(exc)) from None


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use true or false")


def _port(env: Mapping[str, str], name: str) -> int:
    raw = env[name]
    try:
        port = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ConfigurationError(f"{name}={raw!r} is outside 1-65535")
    return port


def _count(env: Mapping[str, str], name: str, *, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be a whole number of {minimum} or more")
    return int(raw)


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = env.get(name, default)
    networks = tuple(n.strip() for n in raw.split(",") if n.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{name}={raw!r}: {network!r} is not an IP address or network (10.0.0.0/8)"
            ) from None
    return networks


def _proxy_header(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    header, sep, value = raw.partition(":")
    if not sep or not header.strip() or not value.strip():
        raise ConfigurationError(f"{name}={raw!r} must be 'Header-Name: value'")
    # Django reads request headers from META: X-Forwarded-Proto is HTTP_X_FORWARDED_PROTO.
    return "HTTP_" + header.strip().upper().replace("-", "_"), value.strip()


def _url(env: Mapping[str, str], name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    raw = env.get(name) or default
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise ConfigurationError(
            f"{name}={raw!r} must start with {' or '.join(s + '://' for s in schemes)}"
        )
    if parts.scheme != "sqlite" and not parts.hostname:
        raise ConfigurationError(f"{name}={raw!r} names no host")
    return raw


def _bootstrap(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    for server in raw.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigurationError(
                f"{name}={raw!r}: {server.strip()!r} is not host:port "
                "(give a comma-separated list such as 127.0.0.1:9092)"
            )
    return raw
