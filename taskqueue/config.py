"""Typed settings, read in one place and validated when the app is built.

Sources, lowest priority first: defaults, environment variables prefixed
``TASKQUEUE_`` (e.g. ``TASKQUEUE_BROKER_URL``), a settings object (attributes
or mapping keys ``TASKQUEUE_<NAME>``, the Django convention), keyword
arguments. A name that is not a setting fails loudly and names itself:
a misspelled option silently ignored is a production incident later.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from .exceptions import ConfigurationError

ENV_PREFIX = "TASKQUEUE_"
"""Environment variables and settings-object attributes carry this prefix."""


@dataclass(frozen=True)
class Settings:
    """All framework settings. Defaults point at the local stack on loopback."""

    broker_url: str = "kafka://127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    mongo_url: str = "mongodb://127.0.0.1:27017"
    result_database: str = "taskqueue"
    results_enabled: bool = True
    topic_prefix: str = "tq."
    key_prefix: str = "tq"
    default_queue: str = "default"
    partitions: int = 6
    replication_factor: int = 1
    state_ttl: int = 86_400
    max_message_bytes: int = 1_000_000
    publish_timeout: float = 15.0
    linger_ms: float = 1.0
    compression: str = "lz4"
    consume_batch_size: int = 500
    max_in_flight_per_partition: int = 2_000
    concurrency: int = 0
    pool: str = "threads"
    shutdown_grace: float = 30.0
    heartbeat_interval: float = 5.0
    result_flush_interval: float = 0.005
    result_flush_size: int = 300
    always_eager: bool = False
    group_id: str = ""
    kafka_producer_options: dict[str, Any] = field(default_factory=dict)
    kafka_consumer_options: dict[str, Any] = field(default_factory=dict)
    # --- control plane (taskqueue.control): gRPC service, progress RPC ---
    control_enabled: bool = True
    control_host: str = "127.0.0.1"
    control_port: int = 0
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    progress_exchange: str = ""
    # --- delivery policies (taskqueue.policies, taskqueue.delays) ---
    delay_tiers: str = "1,5,30,120,600,3600"
    queue_weights: dict[str, Any] = field(
        default_factory=lambda: {"high": 6, "default": 3, "low": 1}
    )
    revoke_ttl: int = 86_400
    idempotency_ttl: int = 86_400
    beat_lock_ttl: float = 10.0

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        settings_object: object | None = None,
        **overrides: Any,
    ) -> Settings:
        """Merge defaults, env, a settings object and keyword arguments."""
        values: dict[str, Any] = {}
        values.update(_from_env(os.environ if env is None else env))
        if settings_object is not None:
            values.update(_from_object(settings_object))
        _reject_unknown(overrides, "keyword argument")
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        _reject_unknown(changes, "keyword argument")
        return dataclasses.replace(self, **changes)

    def topic(self, queue: str) -> str:
        return f"{self.topic_prefix}{queue}"

    def dead_letter_topic(self, queue: str) -> str:
        return f"{self.topic_prefix}{queue}.dead-letter"

    def delay_topic(self, seconds: int) -> str:
        """Topic of the delay tier holding records ``seconds`` before forwarding."""
        return f"{self.topic_prefix}delay.{seconds}s"

    def delay_tier_seconds(self) -> list[int]:
        """The configured delay tiers, ascending (validated at start-up)."""
        return sorted({int(x) for x in self.delay_tiers.split(",") if x.strip()})

    def progress_exchange_name(self) -> str:
        """The fanout exchange of progress requests (default ``<key_prefix>.progress``)."""
        return self.progress_exchange or f"{self.key_prefix}.progress"

    def effective_concurrency(self) -> int:
        return self.concurrency or max(2, os.cpu_count() or 2)


_FIELDS = {f.name: f for f in fields(Settings)}
_VALID_POOLS = ("threads", "processes")


def _reject_unknown(values: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"unknown taskqueue setting(s) {', '.join(unknown)} ({where}); "
            f"valid names: {', '.join(sorted(_FIELDS))}"
        )


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    raw = {k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    unknown = sorted(f"{ENV_PREFIX}{name.upper()}" for name in set(raw) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"unknown environment variable(s) {', '.join(unknown)}; valid: "
            + ", ".join(f"{ENV_PREFIX}{n.upper()}" for n in sorted(_FIELDS))
        )
    return {name: _parse(name, text) for name, text in raw.items()}


def _from_object(obj: object) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        items = dict(obj.items())
    else:
        items = {k: getattr(obj, k) for k in dir(obj) if k.startswith(ENV_PREFIX)}
    raw = {k[len(ENV_PREFIX) :].lower(): v for k, v in items.items() if k.startswith(ENV_PREFIX)}
    _reject_unknown(raw, "settings object")
    return raw


def _parse(name: str, text: str) -> Any:
    """Parse an environment string into the field's declared type."""
    kind = _FIELDS[name].type
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError("expected true/false")
            return lowered in ("1", "true", "yes", "on")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind.startswith("dict"):
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return value
    except ValueError as exc:
        raise ConfigurationError(
            f"{ENV_PREFIX}{name.upper()}={text!r} is not a valid {kind}: {exc}"
        ) from None
    return text


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ConfigurationError(f"{name}={url!r}: scheme must be one of {', '.join(schemes)}")
    if parts.scheme not in ("memory", "unix") and not parts.netloc:
        raise ConfigurationError(f"{name}={url!r}: no host given")


def _validate(s: Settings) -> None:
    _check_url("broker_url", s.broker_url, ("kafka", "memory"))
    _check_url("redis_url", s.redis_url, ("redis", "rediss", "unix"))
    if s.results_enabled:
        _check_url("mongo_url", s.mongo_url, ("mongodb", "mongodb+srv"))
    for name in (
        "partitions",
        "replication_factor",
        "state_ttl",
        "max_message_bytes",
        "consume_batch_size",
        "max_in_flight_per_partition",
        "result_flush_size",
    ):
        if getattr(s, name) < 1:
            raise ConfigurationError(f"{name}={getattr(s, name)!r} must be at least 1")
    if not 0 <= s.control_port <= 65535:
        raise ConfigurationError(f"control_port={s.control_port!r} must be 0 (any free) to 65535")
    if s.rabbitmq_url:
        _check_url("rabbitmq_url", s.rabbitmq_url, ("amqp", "amqps"))
    try:
        tiers = s.delay_tier_seconds()
    except ValueError:
        tiers = []
    if not tiers or tiers[0] < 1:
        raise ConfigurationError(
            f"delay_tiers={s.delay_tiers!r} must be a comma-separated list of whole seconds >= 1"
        )
    bad = {q: w for q, w in s.queue_weights.items() if not isinstance(w, int) or w < 1}
    if bad:
        raise ConfigurationError(f"queue_weights {bad!r}: weights must be integers >= 1")
    if s.concurrency < 0:
        raise ConfigurationError(f"concurrency={s.concurrency!r} must be 0 (auto) or more")
    if s.pool not in _VALID_POOLS:
        raise ConfigurationError(f"pool={s.pool!r} must be one of {', '.join(_VALID_POOLS)}")
    if not s.default_queue or "/" in s.topic_prefix:
        raise ConfigurationError(
            "default_queue must be non-empty; topic_prefix must not contain '/'"
        )


def kafka_bootstrap(settings: Settings) -> str:
    """The ``bootstrap.servers`` value of a ``kafka://host:port[,host:port]`` URL."""
    return urlsplit(settings.broker_url).netloc
