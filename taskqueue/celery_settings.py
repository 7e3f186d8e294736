"""Celery's setting names, mapped onto ours, or refused with the reason.

A Celery project's configuration (``celeryconfig.py``, Django's
``CELERY_*`` settings) should work unchanged wherever a setting means the
same thing here. Each Celery name falls in one of three groups:

- **aliases**: the same meaning under another name (``task_default_queue``
  is ``default_queue``), sometimes with Celery's value forms converted
  (``None`` for "no limit", a ``timedelta`` for seconds, ``prefork``).
- **fixed**: behaviour that is always on here (``task_acks_late``): the
  one value we have is accepted and ignored, any other is refused.
- **refused**: settings of AMQP/Redis brokers that have no meaning on
  Kafka (``broker_transport_options``' visibility timeout, prefetch): they
  fail loudly, saying why and what to use instead. Silently ignoring them
  would let a user believe a guarantee that does not exist.

Names that are not Celery's fall through to :mod:`taskqueue.config`, which
rejects misspellings as before.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from types import FunctionType, ModuleType
from typing import Any
from urllib.parse import urlsplit

SERIALIZERS = ("json", "msgpack")
"""Body formats a worker decodes (taskqueue.serialization)."""

_CONTENT_NAMES = frozenset({*SERIALIZERS, "application/json", "application/x-msgpack"})


class Refused(ValueError):
    """A Celery setting with no meaning here; the message says why and what instead."""


def _seconds_or_none(value: Any) -> Any:
    """Celery's ``None`` ("no limit") is our 0; a ``timedelta`` is seconds."""
    if value is None:
        return 0
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _zero_if_none(value: Any) -> Any:
    return 0 if value is None else value


def _pool(value: Any) -> Any:
    # Celery's process pool is called prefork; ours processes.
    return "processes" if value == "prefork" else value


def _result_backend(value: Any) -> tuple[str, Any]:
    """Live state is in Redis, durable results in MongoDB: a Celery result
    backend URL configures whichever of the two its scheme names."""
    scheme = urlsplit(str(value)).scheme
    if scheme in ("redis", "rediss", "unix"):
        return "redis_url", value
    if scheme in ("mongodb", "mongodb+srv"):
        return "mongo_url", value
    raise Refused(
        f"result_backend={value!r}: results live in MongoDB (mongo_url) with live state "
        "in Redis (redis_url); give a redis:// or mongodb:// URL, or set those two"
    )


Convert = Callable[[Any], Any]

ALIASES: dict[str, tuple[str, Convert | None]] = {
    "task_default_queue": ("default_queue", None),
    "worker_concurrency": ("concurrency", _zero_if_none),
    "worker_pool": ("pool", _pool),
    "task_always_eager": ("always_eager", None),
    "task_compression": ("compression", lambda v: "none" if v is None else v),
}
"""Celery name -> (our field, conversion of Celery's value forms)."""

SAME_NAME: dict[str, Convert] = {
    "task_time_limit": _seconds_or_none,
    "task_soft_time_limit": _seconds_or_none,
    "result_expires": _seconds_or_none,
}
"""Our fields that carry Celery's name, with Celery's value forms accepted."""


def _accepted_content(value: Any) -> bool:
    names = [value] if isinstance(value, str) else list(value or ())
    return bool(names) and all(n in _CONTENT_NAMES for n in names)


FIXED: dict[str, tuple[Any, Callable[[Any], bool], str]] = {
    "task_acks_late": (
        True,
        lambda v: v is True,
        "a job is acknowledged (its offset committed) only after it finished: "
        "at-least-once delivery is the design; there is no ack-on-receipt mode",
    ),
    "task_acks_on_failure_or_timeout": (
        True,
        lambda v: v is True,
        "a failed or timed-out job ends FAILURE and goes to the dead-letter "
        "topic; replay it with `python -m taskqueue dlq replay`",
    ),
    "task_reject_on_worker_lost": (
        True,
        lambda v: v is True,
        "a job whose worker died is always delivered again (at-least-once)",
    ),
    "task_track_started": (
        True,
        lambda v: v is True,
        "STARTED is always stored: the redelivery check and the owner lease rely on it",
    ),
    "enable_utc": (
        True,
        lambda v: v is True,
        "times travel as UTC epoch seconds; set `timezone` for crontab wall clocks",
    ),
    "result_serializer": (
        "json",
        lambda v: v == "json",
        "results are stored as JSON documents in MongoDB and Redis",
    ),
    "accept_content": (
        list(SERIALIZERS),
        _accepted_content,
        "workers decode json and msgpack bodies (both safe); pickle and yaml "
        "are never accepted: unpickling a message runs the sender's code",
    ),
    "result_accept_content": (
        list(SERIALIZERS),
        _accepted_content,
        "results are JSON; pickle is never accepted",
    ),
}
"""Celery name -> (our value, whether a given value is that one, why it is fixed)."""

_NO_AMQP = (
    "Kafka has topics, not AMQP exchanges, bindings or queue declarations: queue "
    "<q> is the topic <topic_prefix><q>, created by `python -m taskqueue topics "
    "create`; route tasks with task_routes or queue="
)
_NO_CONNECTION_KNOBS = (
    "one Kafka producer per process, connected on first use; librdkafka reconnects "
    "and retries by itself within publish_timeout. Pass librdkafka settings in "
    "kafka_producer_options / kafka_consumer_options"
)
_NO_PRIORITIES = (
    "Kafka has no message priorities: priority is a queue polled by weight "
    "(queue_weights); pass priority=0..9 or queue='high' per call"
)

REFUSED: dict[str, str] = {
    "broker_transport_options": (
        "Kafka has no visibility timeout: a received job is owned by its worker "
        "(owner_lease, renewed by heartbeat) and redelivered only when that worker "
        "stops; librdkafka settings go in kafka_producer_options / kafka_consumer_options"
    ),
    "worker_prefetch_multiplier": (
        "a worker fetches records in batches (consume_batch_size), holds at most "
        "max_in_flight jobs, and starts them by queue weight (queue_weights), so "
        "prefetching never holds a higher-priority queue back"
    ),
    "task_default_priority": _NO_PRIORITIES,
    "task_queue_max_priority": _NO_PRIORITIES,
    "task_inherit_parent_priority": _NO_PRIORITIES,
    "task_queues": _NO_AMQP,
    "task_default_exchange": _NO_AMQP,
    "task_default_exchange_type": _NO_AMQP,
    "task_default_routing_key": _NO_AMQP,
    "task_create_missing_queues": _NO_AMQP,
    "broker_pool_limit": _NO_CONNECTION_KNOBS,
    "broker_heartbeat": _NO_CONNECTION_KNOBS,
    "broker_connection_retry": _NO_CONNECTION_KNOBS,
    "broker_connection_retry_on_startup": _NO_CONNECTION_KNOBS,
    "broker_connection_max_retries": _NO_CONNECTION_KNOBS,
    "broker_connection_timeout": _NO_CONNECTION_KNOBS,
    "task_eager_propagates": (
        "an eager call returns an EagerResult whose get() raises the task's error "
        "(propagate=True), so tests see failures without this switch"
    ),
    "result_backend_transport_options": (
        "the result store is MongoDB (mongo_url, result_database); live state is Redis (redis_url)"
    ),
}
"""Celery name -> why it has no meaning here and what to use instead."""

CELERY_NAMES = frozenset({*ALIASES, *SAME_NAME, *FIXED, *REFUSED, "result_backend"})
"""Every Celery name this module knows (for "did you mean" hints)."""


def translate(name: str, value: Any) -> tuple[str, Any] | None:
    """``(our field, value)`` for a setting given under ``name``; None when
    it is a fixed Celery setting given its one value (nothing to set).
    Raises :class:`Refused` for a Celery setting with no meaning here.
    Names that are not Celery's come back unchanged."""
    if name in REFUSED:
        raise Refused(f"Celery setting {name} is not supported: {REFUSED[name]}")
    if name in FIXED:
        ours, matches, why = FIXED[name]
        if matches(value):
            return None
        raise Refused(f"{name}={value!r} is not supported (always {ours!r}): {why}")
    if name == "result_backend":
        return _result_backend(value)
    if name in ALIASES:
        field, convert = ALIASES[name]
        return field, convert(value) if convert else value
    if name in SAME_NAME:
        return name, SAME_NAME[name](value)
    return name, value


def read_alias(name: str) -> tuple[str | None, Any]:
    """For ``app.conf.<celery name>``: the field to read, or (None, fixed value)."""
    if name in REFUSED:
        raise Refused(f"Celery setting {name} is not supported: {REFUSED[name]}")
    if name in FIXED:
        return None, FIXED[name][0]
    if name in ALIASES:
        return ALIASES[name][0], None
    return name, None


# --- config_from_object ---------------------------------------------------


def load_object(spec: str) -> object:
    """``"pkg.module"``, ``"pkg.module:attr"`` or ``"pkg.module.attr"`` (Celery's forms)."""
    module_name, colon, attr = spec.partition(":")
    if colon:
        return getattr(importlib.import_module(module_name), attr)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        parent, _, attr = spec.rpartition(".")
        if exc.name != spec or not parent:
            raise
        return getattr(importlib.import_module(parent), attr)


def settings_in(obj: object, namespace: str | None) -> dict[str, Any]:
    """The settings an object holds, by lowercase name.

    With a namespace (``"CELERY"``), only uppercase names with its prefix
    count (``CELERY_BROKER_URL`` -> ``broker_url``), as Celery's Django
    setup reads Django's settings. Without one, lowercase public names
    that are values, not the modules, classes and functions a config module
    imports (``from datetime import timedelta``).
    """
    items = obj if isinstance(obj, Mapping) else {k: _attr(obj, k) for k in dir(obj)}
    found: dict[str, Any] = {}
    if namespace:
        prefix = f"{namespace.upper()}_"
        for key, value in items.items():
            if key.startswith(prefix) and key.isupper():
                found[key[len(prefix) :].lower()] = value
        return found
    for key, value in items.items():
        if key.startswith("_") or not key.islower() or _is_code(value):
            continue
        found[key] = value
    return found


def _attr(obj: object, name: str) -> Any:
    return getattr(obj, name, None)


def _is_code(value: Any) -> bool:
    return isinstance(value, ModuleType | type | FunctionType) or callable(value)
