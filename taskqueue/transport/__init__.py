"""Transports: how messages travel (Kafka in production, memory in unit tests)."""

from __future__ import annotations

from ..config import Settings, kafka_bootstrap
from .base import Consumer, Delivery, PublishHandle, Transport


def create_transport(settings: Settings) -> Transport:
    """The transport named by ``settings.broker_url`` (nothing connects yet)."""
    if settings.broker_url.startswith("memory://"):
        from .memory import MemoryTransport

        return MemoryTransport(partitions=settings.partitions)
    from .kafka import KafkaTransport

    return KafkaTransport(
        kafka_bootstrap(settings),
        linger_ms=settings.linger_ms,
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
