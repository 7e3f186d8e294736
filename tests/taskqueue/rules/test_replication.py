"""Topic replication: the automatic default follows the cluster's size, and
a worker names at start-up each queue whose topics are replicated less than
the settings ask for (Kafka never raises a topic's replication by itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from taskqueue import TaskQueue
from taskqueue.exceptions import PublishError
from taskqueue.replication import min_in_sync, replication_factor
from taskqueue.transport.memory import MemoryTransport

from . import tasks
from .conftest import RunningWorker


@pytest.mark.fast
@pytest.mark.parametrize(
    ("configured", "brokers", "replicas", "isr"),
    [
        (0, 1, 1, None),  # one broker: nothing to replicate to
        (0, 2, 2, None),  # two: a minimum of two would stop publishing when one is down
        (0, 3, 3, 2),
        (0, 5, 3, 2),  # never more than three automatically
        (1, 3, 1, None),  # an explicit setting wins
        (4, 5, 4, 2),
    ],
)
def test_the_automatic_replication_follows_the_cluster(
    configured: int, brokers: int, replicas: int, isr: int | None
) -> None:
    assert replication_factor(configured, brokers) == replicas
    assert min_in_sync(replicas) == isr


def cluster_app(unique_name: str, brokers: int, **settings: object) -> TaskQueue:
    app = TaskQueue(
        "replication",
        broker_url=f"memory://?brokers={brokers}",
        redis_url="memory://",
        mongo_url="memory://",
        topic_prefix=f"{unique_name}.",
        key_prefix=unique_name,
        control_enabled=False,
        delay_tiers="1",
        **settings,
    )
    tasks.register(app)
    return app


@pytest.mark.fast
def test_topics_on_three_brokers_get_three_replicas_and_two_in_sync(unique_name: str) -> None:
    app = cluster_app(unique_name, brokers=3)
    app.declare_topics(["default"])
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    described = transport.describe_topics(transport.list_topics(f"{unique_name}."))
    assert len(described) == 3  # queue, dead letters, one delay tier
    assert {(d.replicas, d.min_insync) for d in described.values()} == {(3, 2)}
    assert app.check_replication(["default"]) == []


@pytest.mark.fast
def test_more_replicas_than_brokers_is_refused_like_kafka_does(unique_name: str) -> None:
    app = cluster_app(unique_name, brokers=1, replication_factor=3)
    with pytest.raises(PublishError, match="replication factor 3"):
        app.declare_topics(["default"])


@pytest.mark.fast
def test_a_worker_names_each_under_replicated_queue_at_start_up(
    unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = cluster_app(unique_name, brokers=3)
    s = app.settings
    # Created while the cluster had one broker: one replica, no minimum.
    app.transport.declare([s.topic("default")], 1, 1)
    app.declare_topics(["default", "high"])  # the rest, with three replicas
    with caplog.at_level(logging.WARNING, logger="taskqueue.replication"), RunningWorker(app):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.name == "taskqueue.replication"]
    assert len(warnings) == 1, warnings
    assert f"queue default (topic {s.topic('default')})" in warnings[0]
    assert "replication factor 1 < 3" in warnings[0]
    assert "min.insync.replicas 1 < 2" in warnings[0]
    app.close()


def test_a_single_broker_stack_has_one_replica_and_no_warning(
    rapp: TaskQueue, worker: Callable[..., RunningWorker], caplog: pytest.LogCaptureFixture
) -> None:
    """On the single-node local stack (and its memory twin) everything is
    replicated once, as expected there: no warning."""
    assert rapp.transport.broker_count() == 1
    s = rapp.settings
    topics = [s.topic("default"), s.dead_letter_topic("default")]
    described = rapp.transport.describe_topics(topics)
    assert {(d.replicas, d.min_insync) for d in described.values()} == {(1, 1)}
    with caplog.at_level(logging.WARNING, logger="taskqueue.replication"), worker():
        pass
    assert [r for r in caplog.records if r.name == "taskqueue.replication"] == []
