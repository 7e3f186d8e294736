"""Typed settings, read in one place and validated when the app is built.

Sources, lowest priority first: defaults, environment variables prefixed
``TASKQUEUE_`` (e.g. ``TASKQUEUE_BROKER_URL``), a settings object (attributes
or mapping keys ``TASKQUEUE_<NAME>``, the Django convention), keyword
arguments. Every value, whatever its source, is converted by its field's
rule (:mod:`taskqueue.config_rules`): ``"false"`` is False, ``"6"`` is 6,
``"1,5,30"`` is the tuple of delay tiers. A bad value stops start-up with a
:class:`ConfigurationError` naming the setting and its source, listing every
bad field at once. A name that is not a setting fails loudly as well: a
misspelled option silently ignored is a production incident later.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NoReturn
from urllib.parse import urlsplit

from . import celery_settings as celery
from . import config_rules as r
from .exceptions import ConfigurationError
from .publish_retry import DEFAULT_POLICY, retry_policy
from .routes import reroute, task_routes
from .serialization import check_serializer

ENV_PREFIX = "TASKQUEUE_"
"""Environment variables and settings-object attributes carry this prefix."""

DEFAULT = "default"
ENVIRONMENT = "environment"
SETTINGS_OBJECT = "settings object"
KEYWORD = "keyword argument"
"""Sources of a value, as error messages name them."""


@dataclass(frozen=True)
class Settings:
    """All framework settings. Defaults point at the local stack on loopback."""

    broker_url: str = "kafka://127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    mongo_url: str = "mongodb://127.0.0.1:27017"
    result_database: str = "taskqueue"
    results_enabled: bool = True
    result_expires: float = 86_400.0
    """Seconds a final result is kept in the result store (Celery's setting
    and default: one day); 0 = forever. See ``taskqueue.builtins``."""
    topic_prefix: str = "tq."
    key_prefix: str = "tq"
    default_queue: str = "default"
    partitions: int = 6
    replication_factor: int = 0
    """Replicas of each topic the framework creates; 0 = automatic:
    min(3, brokers in the cluster). See ``taskqueue.replication``."""
    state_ttl: int = 86_400
    max_message_bytes: int = 1_000_000
    publish_timeout: float = 15.0
    linger_ms: float = 0.0  # a lone publish leaves at once (see transport.kafka)
    busy_linger_ms: float = 1.0  # many publishes in flight, or bulk(): share batches
    compression: str = "lz4"
    consume_batch_size: int = 500
    max_in_flight_per_partition: int = 2_000
    max_in_flight: int = 5_000
    """Jobs one worker holds received and not acked (finished ones waiting for
    their result write included); fetching pauses there, resumes below half."""
    concurrency: int = 0
    pool: str = "threads"
    shutdown_grace: float = 30.0
    task_time_limit: float = 7200.0
    """Default hard time limit (seconds) of a task that sets no ``time_limit``,
    Celery's setting name; 0 = none. Generous on purpose: it exists so one
    hung job cannot hold its partition's commit point forever."""
    task_soft_time_limit: float = 0.0
    """Default soft time limit (seconds) of a task that sets no
    ``soft_time_limit`` (Celery's setting); 0 = none."""
    task_serializer: str = "json"
    """Body format of published jobs, ``json`` or ``msgpack`` (Celery's
    setting; ``serializer=`` per call). Workers read both."""
    task_routes: dict[Any, str] = field(default_factory=dict)
    """Task name, glob or ``re.Pattern`` -> queue (Celery's setting; see
    ``taskqueue.routes``)."""
    task_publish_retry: bool = False
    """Resend a publish Kafka did not confirm (Celery's setting; ``retry=``
    per call). Off by default: see ``taskqueue.publish_retry``."""
    task_publish_retry_policy: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_POLICY))
    """Celery's keys: max_retries, interval_start, interval_step, interval_max."""
    max_child_deaths: int = 3
    """Process pool: a job whose child dies this many times running it (one
    attempt, counted across workers) is dead-lettered as poison."""
    heartbeat_interval: float = 5.0
    owner_lease: float = 15.0
    """Seconds a worker owns a job it received, renewed by its heartbeat: a
    copy of the job that reaches another worker meanwhile (across a
    rebalance) waits instead of running twice. 0 turns leases off."""
    unknown_task_grace: float = 600.0
    """Seconds a job of a task this worker does not know is delayed again
    (through the delay tiers) before it fails with NotRegistered: during a
    rolling deploy a newer worker that knows it takes it. 0 = fail at once."""
    outage_shutdown_after: float = 600.0
    """Seconds a store the worker needs (state or results) may stay down
    before the worker shuts down (warm), so an orchestrator can replace it;
    until then it holds its partitions and waits. 0 = wait forever."""
    health_port: int = 0
    metrics_port: int = 9808
    """Port of the worker's Prometheus ``/metrics`` (on ``control_host``,
    :mod:`taskqueue.worker.metrics`); 0 = none."""
    beat_metrics_port: int = 9809
    """Port of beat's Prometheus ``/metrics`` (on ``control_host``); 0 = none."""
    malloc_arenas: int = 2
    """glibc malloc arenas of a worker process (``taskqueue.worker.malloc``);
    0 = glibc's default (8 per core). Bounds the worker's memory creep."""
    """Port of the worker's HTTP health endpoint (``/healthz``, for
    Kubernetes probes); 0 = none."""
    result_flush_interval: float = 0.005
    result_flush_size: int = 300
    result_max_bytes: int = 4_000_000
    """A result whose JSON is larger fails its job (ResultTooLarge), never
    reaching the store: MongoDB holds at most 16 MiB per document."""
    error_max_chars: int = 2_000
    """An error message longer than this is cut, with a marker."""
    traceback_max_chars: int = 20_000
    """A traceback longer than this keeps its head and tail, with a marker."""
    result_write_retries: int = 5
    """A result document the store refuses for a passing reason is retried
    this many times with backoff, then its job fails."""
    follow_up_publish_retries: int = 5
    """A follow-up (retry, callback, dead letter) whose publish failed for a
    passing reason is resent this many times, then its job is dead-lettered."""
    always_eager: bool = False
    group_id: str = ""
    kafka_producer_options: dict[str, Any] = field(default_factory=dict)
    kafka_consumer_options: dict[str, Any] = field(default_factory=dict)
    # --- control plane (taskqueue.control): gRPC service, progress RPC ---
    control_enabled: bool = True
    control_host: str = "127.0.0.1"
    control_port: int = 0
    control_token: str = field(default="", repr=False)
    """Shared secret every gRPC control call presents (``authorization:
    Bearer <token>``); the same value for workers, the site and the CLI.
    Empty: the control plane is unauthenticated and serves loopback only
    (``taskqueue.control.auth``)."""
    rabbitmq_url: str = field(default="amqp://guest:guest@127.0.0.1:5672/%2F", repr=False)
    """RabbitMQ's ``guest`` user is for the local stack: refused with a host
    other than loopback (RabbitMQ itself refuses it from elsewhere)."""
    progress_exchange: str = ""
    # --- delivery policies (taskqueue.policies, taskqueue.delays) ---
    delay_tiers: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0, 3600.0)
    """Seconds of each delay tier, ascending; parsed once from text or a list."""
    queue_weights: dict[str, int] = field(
        default_factory=lambda: {"high": 6, "default": 3, "low": 1}
    )
    revoke_ttl: int = 86_400
    idempotency_ttl: int = 86_400
    beat_lock_ttl: float = 10.0
    timezone: str = "UTC"
    """IANA time zone whose wall clock beat reads crontabs on (Celery's
    setting and default); a crontab given its own ``tz`` keeps it."""

    def __post_init__(self) -> None:
        # Built directly (Settings(...), replace()): convert in place, so a
        # Settings object never holds an unconverted value.
        given = {name: (getattr(self, name), KEYWORD) for name in _FIELDS}
        values, problems = _convert(given)
        if problems:
            _raise(problems)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        settings_object: object | None = None,
        **overrides: Any,
    ) -> Settings:
        """Merge defaults, env, a settings object and keyword arguments."""
        unknown: list[str] = []
        given: dict[str, tuple[Any, str]] = {}
        sources: list[tuple[str, Mapping[str, Any]]] = [
            (ENVIRONMENT, _prefixed(os.environ if env is None else env)),
            (SETTINGS_OBJECT, _prefixed(_items(settings_object))),
            (KEYWORD, overrides),
        ]
        for source, values in sources:
            for name, value in _celery_names(values, source, unknown).items():
                if name in _FIELDS:
                    given[name] = (value, source)
                else:
                    unknown.append(_unknown(name, source))
        values, problems = _convert(given)
        if unknown:
            problems = [*unknown, *problems, "valid names: " + ", ".join(sorted(_FIELDS))]
        if problems:
            _raise(problems)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        problems: list[str] = []
        changes = _celery_names(changes, KEYWORD, problems)
        problems += [_unknown(name, KEYWORD) for name in changes if name not in _FIELDS]
        if problems:
            _raise(problems)
        return dataclasses.replace(self, **changes)

    def topic(self, queue: str) -> str:
        return f"{self.topic_prefix}{queue}"

    def dead_letter_topic(self, queue: str) -> str:
        return f"{self.topic_prefix}{queue}.dead-letter"

    def delay_topic(self, seconds: float) -> str:
        """Topic of the delay tier holding records ``seconds`` before forwarding."""
        return f"{self.topic_prefix}delay.{tier_label(seconds)}"

    def delay_group(self, seconds: float) -> str:
        """Consumer group of one delay tier (its own, so tiers never rebalance each other)."""
        return f"{self.topic_prefix}delays.{tier_label(seconds)}"

    def progress_exchange_name(self) -> str:
        """The fanout exchange of progress requests (default ``<key_prefix>.progress``)."""
        return self.progress_exchange or f"{self.key_prefix}.progress"

    def effective_concurrency(self) -> int:
        return self.concurrency or max(2, os.cpu_count() or 2)


def tier_label(seconds: float) -> str:
    """``5s`` for whole seconds, ``200ms`` otherwise: tier topic and group names.

    Whole-second tiers keep the names they always had, so an upgrade finds
    the same topics and committed offsets.
    """
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _is_time_zone(name: str) -> bool:
    from .crontab import zone

    try:
        zone(name)
    except ConfigurationError:
        return False
    return True


_RULES: dict[str, r.Rule] = {
    "broker_url": r.url("kafka", "memory"),
    "redis_url": r.url("redis", "rediss", "unix", "memory"),
    # Empty only while results are disabled (checked in _convert).
    "mongo_url": r.url("mongodb", "mongodb+srv", "memory", empty_ok=True),
    "result_database": r.checked(r.to_text, bool, "must be non-empty"),
    "results_enabled": r.to_bool,
    "result_expires": r.at_least(r.to_float, 0),
    "topic_prefix": r.kafka_name(empty_ok=True),
    "key_prefix": r.to_text,
    "default_queue": r.kafka_name(empty_ok=False),
    "partitions": r.at_least(r.to_int, 1),
    "replication_factor": r.at_least(r.to_int, 0),
    "state_ttl": r.at_least(r.to_int, 1),
    "max_message_bytes": r.at_least(r.to_int, 1),
    "publish_timeout": r.positive(r.to_float),
    "linger_ms": r.at_least(r.to_float, 0),
    "busy_linger_ms": r.at_least(r.to_float, 0),
    # librdkafka's compression.type values.
    "compression": r.one_of("none", "gzip", "snappy", "lz4", "zstd"),
    "consume_batch_size": r.at_least(r.to_int, 1),
    "max_in_flight_per_partition": r.at_least(r.to_int, 1),
    "max_in_flight": r.at_least(r.to_int, 1),
    "concurrency": r.checked(r.to_int, lambda v: v >= 0, "must be 0 (one per CPU) or more"),
    "pool": r.one_of("threads", "processes"),
    "shutdown_grace": r.at_least(r.to_float, 0),
    "task_time_limit": r.at_least(r.to_float, 0),
    "task_soft_time_limit": r.at_least(r.to_float, 0),
    "task_serializer": lambda v: check_serializer(r.to_text(v)),
    "task_routes": task_routes,
    "task_publish_retry": r.to_bool,
    "task_publish_retry_policy": retry_policy,
    "max_child_deaths": r.at_least(r.to_int, 1),
    "heartbeat_interval": r.positive(r.to_float),
    "outage_shutdown_after": r.at_least(r.to_float, 0),
    "unknown_task_grace": r.at_least(r.to_float, 0),
    "owner_lease": r.at_least(r.to_float, 0),
    "health_port": r.between(r.to_int, 0, 65535),
    "metrics_port": r.between(r.to_int, 0, 65535),
    "beat_metrics_port": r.between(r.to_int, 0, 65535),
    "malloc_arenas": r.at_least(r.to_int, 0),
    "result_flush_interval": r.positive(r.to_float),
    "result_flush_size": r.at_least(r.to_int, 1),
    "result_max_bytes": r.at_least(r.to_int, 1),
    "error_max_chars": r.at_least(r.to_int, 100),
    "traceback_max_chars": r.at_least(r.to_int, 100),
    "result_write_retries": r.at_least(r.to_int, 0),
    "follow_up_publish_retries": r.at_least(r.to_int, 0),
    "always_eager": r.to_bool,
    "group_id": r.to_text,
    "kafka_producer_options": r.to_object,
    "kafka_consumer_options": r.to_object,
    "control_enabled": r.to_bool,
    "control_host": r.checked(r.to_text, bool, "must be non-empty"),
    "control_port": r.between(r.to_int, 0, 65535),
    "control_token": r.to_text,
    # Empty: no progress RPC over RabbitMQ.
    "rabbitmq_url": r.url("amqp", "amqps", empty_ok=True),
    "progress_exchange": r.to_text,
    "delay_tiers": r.delay_tiers,
    "queue_weights": r.queue_weights,
    "revoke_ttl": r.at_least(r.to_int, 1),
    "idempotency_ttl": r.at_least(r.to_int, 1),
    "beat_lock_ttl": r.positive(r.to_float),
    "timezone": r.checked(r.to_text, _is_time_zone, "is not a known IANA time zone"),
}
"""The conversion rule of every field (a test checks none is missing)."""

_FIELDS = {f.name: f for f in fields(Settings)}


def _default(name: str) -> Any:
    f = _FIELDS[name]
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _shown(name: str, source: str) -> str:
    """The name the user wrote: the variable for prefixed sources, else the keyword."""
    return f"{ENV_PREFIX}{name.upper()}" if source in (ENVIRONMENT, SETTINGS_OBJECT) else name


def _convert(given: Mapping[str, tuple[Any, str]]) -> tuple[dict[str, Any], list[str]]:
    """Every field converted by its rule, and a line per bad value (name, value, source)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in _FIELDS:
        raw, source = given.get(name, (_default(name), DEFAULT))
        try:
            values[name] = _RULES[name](raw)
        except ValueError as exc:
            problems.append(f"{_shown(name, source)}={_redacted(raw)!r} ({source}): {exc}")
    if values.get("results_enabled") and values.get("mongo_url") == "":
        raw, source = given.get("mongo_url", ("", DEFAULT))
        problems.append(
            f"{_shown('mongo_url', source)}={raw!r} ({source}): required while results are enabled"
        )
    guest = _guest_beyond_loopback(values.get("rabbitmq_url") or "")
    if guest:
        raw, source = given.get("rabbitmq_url", ("", DEFAULT))
        problems.append(f"{_shown('rabbitmq_url', source)}={_redacted(raw)!r} ({source}): {guest}")
    return values, problems


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, ``[::1]`` too) is this machine only."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _guest_beyond_loopback(url: str) -> str:
    """Why ``url`` is refused: RabbitMQ's default user outside the local stack."""
    parts = urlsplit(url)
    if parts.username == "guest" and not is_loopback(parts.hostname or ""):
        return (
            "the 'guest' user is the local stack's only (RabbitMQ refuses it from any "
            "address but loopback): give each service its own RabbitMQ user and password"
        )
    return ""


def _redacted(raw: Any) -> Any:
    """``raw`` with a URL's password masked: error messages end up in logs."""
    if isinstance(raw, str) and "@" in raw:
        try:
            password = urlsplit(raw).password
        except ValueError:
            return raw
        if password:
            return raw.replace(f":{password}@", ":***@", 1)
    return raw


def _raise(problems: list[str]) -> NoReturn:
    if len(problems) == 1:
        raise ConfigurationError(problems[0])
    raise ConfigurationError("invalid taskqueue settings:\n  " + "\n  ".join(problems))


def _celery_names(values: Mapping[str, Any], source: str, problems: list[str]) -> dict[str, Any]:
    """``values`` with Celery's setting names translated to ours
    (:mod:`taskqueue.celery_settings`); a refused one adds a line to ``problems``."""
    translated: dict[str, Any] = {}
    for name, value in values.items():
        try:
            found = celery.translate(name, value)
        except celery.Refused as exc:
            problems.append(f"{exc} ({source})")
            continue
        if found is not None:
            translated[found[0]] = found[1]
    return translated


def _unknown(name: str, source: str) -> str:
    shown = _shown(name, source)
    known = [_shown(n, source) for n in (*_FIELDS, *celery.CELERY_NAMES)]
    close = difflib.get_close_matches(shown, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown taskqueue setting {shown} ({source}){hint}"


def _items(obj: object | None) -> Mapping[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return obj
    return {k: getattr(obj, k) for k in dir(obj) if k.startswith(ENV_PREFIX)}


def _prefixed(items: Mapping[str, Any]) -> dict[str, Any]:
    """``TASKQUEUE_<NAME>`` entries, keyed by field name."""
    return {k[len(ENV_PREFIX) :].lower(): v for k, v in items.items() if k.startswith(ENV_PREFIX)}


def kafka_bootstrap(settings: Settings) -> str:
    """The ``bootstrap.servers`` value of a ``kafka://host:port[,host:port]`` URL."""
    return urlsplit(settings.broker_url).netloc


class Conf:
    """``app.conf``: Celery's settings object, a thin view of the app's settings.

    Reads give the current value (``app.conf.timezone``); writes and
    :meth:`update` go through :meth:`Settings.replace`, so a misspelled
    name or a bad value fails loudly, as everywhere else. ``beat_schedule``
    is the app's periodic-task dict (``app.beat_schedule``). Change settings
    before the app first connects: clients already created keep theirs.
    """

    __slots__ = ("_app",)

    def __init__(self, app: Any) -> None:
        object.__setattr__(self, "_app", app)

    def __getattr__(self, name: str) -> Any:
        if name == BEAT_SCHEDULE:
            return self._app.beat_schedule
        try:
            field_name, fixed = celery.read_alias(name)
        except celery.Refused as exc:
            raise AttributeError(str(exc)) from None
        if field_name is None:
            return fixed
        if field_name in _FIELDS:
            return getattr(self._app.settings, field_name)
        raise AttributeError(_unknown(name, KEYWORD))

    def __setattr__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError as exc:
            raise KeyError(str(exc)) from None

    def __setitem__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __contains__(self, name: object) -> bool:
        readable = celery.ALIASES.keys() | celery.FIXED.keys()
        return name == BEAT_SCHEDULE or name in _FIELDS or name in readable

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in self else default

    def update(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Change several settings at once (all checked before any applies)."""
        changes = {**(values or {}), **more}
        schedule = changes.pop(BEAT_SCHEDULE, None)
        if changes:
            self._app.settings = self._app.settings.replace(**changes)
            reroute(self._app)  # task_routes or default_queue may have changed
        if schedule is not None:
            self._app.beat_schedule = dict(schedule)


BEAT_SCHEDULE = "beat_schedule"
"""The one ``app.conf`` name that is not a :class:`Settings` field: the
periodic tasks live on the app (``taskqueue.beat``)."""
