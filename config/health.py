"""Round-trip checks of the services the project depends on.

One piece serves the `/healthz` endpoint, the home page and the test
fixtures: each check talks to the real service with a short timeout and
returns ``None`` when it answered, or the reason it did not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.environment import Environment

TIMEOUT_SECONDS = 3.0
"""Long enough for a loaded CI machine, short enough for a health endpoint."""


def check_kafka(bootstrap_servers: str) -> str | None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "logger": _quiet_logger()})
    try:
        admin.list_topics(timeout=TIMEOUT_SECONDS)
    except KafkaException as exc:
        return str(exc.args[0].str() if exc.args else exc)
    return None


def check_redis(url: str) -> str | None:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def check_mongo(url: str) -> str | None:
    import pymongo
    import pymongo.errors

    client: pymongo.MongoClient = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=int(TIMEOUT_SECONDS * 1000)
    )
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        return str(exc).split(",")[0]
    finally:
        client.close()
    return None


def check_rabbitmq(url: str) -> str | None:
    import pika
    import pika.exceptions

    params = pika.URLParameters(url)
    params.socket_timeout = TIMEOUT_SECONDS
    params.blocked_connection_timeout = TIMEOUT_SECONDS
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPError as exc:
        return repr(exc)
    return None


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    address: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _quiet_logger():
    # librdkafka logs every failed connection attempt; the caller reports the
    # outcome once instead.
    import logging

    logger = logging.getLogger("config.health.kafka")
    logger.setLevel(logging.CRITICAL)
    return logger


def check_all(env: Environment) -> list[ServiceHealth]:
    checks: list[tuple[str, str, Callable[[str], str | None]]] = [
        ("Kafka", env.kafka_bootstrap_servers, check_kafka),
        ("Redis", env.redis_url, check_redis),
        ("RabbitMQ", env.rabbitmq_url, check_rabbitmq),
        ("Mongo", env.mongo_url, check_mongo),
    ]
    return [
        ServiceHealth(name, _redact(address), check(address)) for name, address, check in checks
    ]


def _redact(address: str) -> str:
    """Addresses are shown to people; passwords in URLs are not."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(address)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return address
