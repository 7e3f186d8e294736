"""Transports: how messages travel (Kafka in production, memory in unit tests)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..config import Settings, kafka_bootstrap
from ..exceptions import ConfigurationError
from .base import Consumer, Delivery, PublishHandle, Transport


def create_transport(settings: Settings) -> Transport:
    """The transport named by ``settings.broker_url`` (nothing connects yet)."""
    if settings.broker_url.startswith("memory://"):
        from .memory import MemoryTransport

        # memory://?brokers=3 pretends to be a cluster of three brokers.
        query = parse_qs(urlsplit(settings.broker_url).query)
        brokers = query.get("brokers", ["1"])[0]
        if not brokers.isdigit() or int(brokers) < 1:
            raise ConfigurationError(
                f"broker_url={settings.broker_url!r}: brokers must be a whole number of 1 or more"
            )
        return MemoryTransport(partitions=settings.partitions, brokers=int(brokers))
    from .kafka import KafkaTransport

    return KafkaTransport(
        kafka_bootstrap(settings),
        linger_ms=settings.linger_ms,
        busy_linger_ms=settings.busy_linger_ms,
        compression=settings.compression,
        max_message_bytes=settings.max_message_bytes,
        # librdkafka gives up (and reports the failure) before the caller's
        # wait ends, so a publish reported as failed can never land later.
        producer_options={
            "message.timeout.ms": int(settings.publish_timeout * 1000),
            **settings.kafka_producer_options,
        },
        consumer_options=settings.kafka_consumer_options,
    )


__all__ = ["Consumer", "Delivery", "PublishHandle", "Transport", "create_transport"]
