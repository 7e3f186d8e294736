"""The local stack's Kafka cluster layout: ports, quorum, replication.

Starting a real cluster is the broker-failover test's job
(tests/reliability/test_broker_failover.py); these check the layout the
stack computes, without services.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from config.environment import ConfigurationError, Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))

from localstack.kafka import kafka_nodes, new_cluster_id  # noqa: E402
from localstack.service import Layout, StackError  # noqa: E402


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.mark.fast
def test_one_broker_is_the_single_node_as_before(tmp_path: Path) -> None:
    (node,) = kafka_nodes(Layout(tmp_path, tmp_path / "cache"), 9092, 9093, 1)
    props = properties(node._server_properties())
    assert node.name == "kafka"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"


@pytest.mark.fast
def test_three_brokers_form_one_quorum_with_replicated_internal_topics(tmp_path: Path) -> None:
    nodes = kafka_nodes(Layout(tmp_path, tmp_path / "cache"), 9092, 9093, 3)
    assert [(n.name, n.port, n.controller_port) for n in nodes] == [
        ("kafka-1", 9092, 9093),
        ("kafka-2", 9094, 9095),
        ("kafka-3", 9096, 9097),
    ]
    voters = "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    for node in nodes:
        props = properties(node._server_properties())
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == voters
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{node.port}"
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["transaction.state.log.min.isr"] == "2"
        assert props["min.insync.replicas"] == "2"
        assert str(node.layout.data(node.name)) in props["log.dirs"]
    assert len({n.log_file for n in nodes}) == len({n.pid_file for n in nodes}) == 3


@pytest.mark.fast
def test_ports_that_would_overlap_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="overlapping"):
        kafka_nodes(Layout(tmp_path, tmp_path / "cache"), 9092, 9094, 3)


@pytest.mark.fast
def test_kafka_brokers_names_every_node_in_the_default_bootstrap() -> None:
    env = Environment.from_env({"KAFKA_BROKERS": "3", "KAFKA_PORT": "19092"})
    assert env.kafka_brokers == 3
    assert env.kafka_bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert Environment.from_env({}).kafka_bootstrap_servers == "127.0.0.1:9092"
    with pytest.raises(ConfigurationError, match="KAFKA_BROKERS='0'"):
        Environment.from_env({"KAFKA_BROKERS": "0"})


@pytest.mark.fast
def test_cluster_ids_never_look_like_an_option() -> None:
    # One random id in 64 started with "-" and the storage tool refused it.
    assert not any(new_cluster_id().startswith("-") for _ in range(2000))
