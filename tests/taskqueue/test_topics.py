"""Topics are created with the settings the delivery guarantees need."""

from __future__ import annotations

import pytest

from taskqueue import TaskQueue
from taskqueue.transport.memory import MemoryTransport


@pytest.mark.fast
def test_dead_letter_topics_keep_records_forever_and_three_replicas_need_two_in_sync(
    unique_name: str,
) -> None:
    app = TaskQueue(
        "topics",
        broker_url="memory://?brokers=3",
        topic_prefix=f"{unique_name}.",
        replication_factor=3,
    )
    app.declare_topics(["default"])
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    s = app.settings
    dead, queue = s.dead_letter_topic("default"), s.topic("default")
    assert transport.topic_configs[dead] == {"retention.ms": "-1", "min.insync.replicas": "2"}
    assert transport.topic_configs[queue] == {"min.insync.replicas": "2"}


def test_a_dead_letter_topic_on_kafka_has_unlimited_retention(
    kafka_bootstrap: str, unique_name: str
) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource

    app = TaskQueue(
        "topics", broker_url=f"kafka://{kafka_bootstrap}", topic_prefix=f"{unique_name}."
    )
    app.declare_topics(["default"])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    dead, queue = app.settings.dead_letter_topic("default"), app.settings.topic("default")
    try:
        resources = [ConfigResource("topic", dead), ConfigResource("topic", queue)]
        described = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
        assert described[dead]["retention.ms"].value == "-1"
        assert described[queue]["retention.ms"].value != "-1"  # the broker's default
    finally:
        topics = admin.list_topics(timeout=10).topics
        mine = [t for t in topics if t.startswith(f"{unique_name}.")]
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()
        app.close()
