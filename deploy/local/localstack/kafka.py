"""Apache Kafka in KRaft mode, jars from Maven Central.

One node (broker and controller) by default. With ``--kafka-brokers N``
(or KAFKA_BROKERS=N) the stack runs N combined broker+controller nodes
instead, ids 1..N, all of them voters of the metadata quorum: node i
listens on KAFKA_PORT + 2(i-1) and its controller on KAFKA_CONTROLLER_PORT
+ 2(i-1), so the defaults give brokers 9092, 9094, 9096 and controllers
9093, 9095, 9097. A cluster's nodes are named kafka-1..kafka-N, each with
its own data folder, log and pid file; the single node keeps the name
kafka, so the two layouts never share storage formatted for the other.
"""

from __future__ import annotations

import base64
import re
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path

from . import installers, probes
from .service import Layout, Service, StackError, say

HERE = Path(__file__).resolve().parent.parent / "kafka"
POM = HERE / "pom.xml"
LOG_CONFIG = HERE / "log4j2.properties"


def kafka_version() -> str:
    """The broker version is pinned once, in the pom."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match, "kafka.version missing from deploy/local/kafka/pom.xml"
    return match.group(1)


MAX_AUTO_REPLICAS = 3
"""Internal topics get min(3, nodes) replicas, like the project's own topics."""


def cluster_id_file(layout: Layout) -> Path:
    """The id every node of a cluster formats its storage with."""
    return layout.home / "data" / "kafka-cluster.id"


class Kafka(Service):
    name = "kafka"
    start_timeout = 90.0
    # Each partition keeps files open; a test run creates thousands of
    # partitions, and 20,000 descriptors ran out after a few runs.
    open_files = 1_000_000

    def __init__(
        self,
        layout: Layout,
        port: int,
        controller_port: int,
        node_id: int = 1,
        voters: Sequence[tuple[int, int]] = (),
    ) -> None:
        super().__init__(layout, port)
        self.controller_port = controller_port
        self.node_id = node_id
        self.voters = list(voters) or [(node_id, controller_port)]
        """(node id, controller port) of every voter of the quorum."""
        if len(self.voters) > 1:
            self.name = f"kafka-{node_id}"
        self.version = kafka_version()
        self.libs = layout.cache / f"kafka-{self.version}" / "libs"
        self.java = "java"

    @property
    def config_file(self) -> Path:
        return self.layout.data(self.name) / "server.properties"

    def install(self) -> None:
        self.java = installers.require_java(17)
        if not self.libs.is_dir():
            installers.maven_copy_dependencies(
                POM, self.layout.cache / "m2", self.libs, f"Apache Kafka {self.version}"
            )

    @property
    def nodes(self) -> int:
        return len(self.voters)

    def _server_properties(self) -> str:
        data = self.layout.data(self.name)
        voters = ",".join(f"{node}@127.0.0.1:{port}" for node, port in self.voters)
        # Internal topics (consumer offsets, transactions) are replicated as
        # the project's topics are: losing one broker of three loses nothing.
        replicas = min(MAX_AUTO_REPLICAS, self.nodes)
        min_isr = 2 if replicas >= 3 else 1
        return "\n".join(
            [
                "# Written by deploy/local/stack on every start; edit the stack, not this file.",
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={data / 'logs'}",
                # Topics are created by the project, never by a typo in a client.
                "auto.create.topics.enable=false",
                "num.partitions=1",
                f"default.replication.factor={replicas}",
                f"min.insync.replicas={min_isr}",
                f"offsets.topic.replication.factor={replicas}",
                "offsets.topic.num.partitions=10",
                f"transaction.state.log.replication.factor={replicas}",
                f"transaction.state.log.min.isr={min_isr}",
                f"share.coordinator.state.topic.replication.factor={replicas}",
                f"share.coordinator.state.topic.min.isr={min_isr}",
                # Local clusters start together; join consumer groups at once.
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )

    def prepare(self) -> None:
        data = self.layout.data(self.name)
        data.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._server_properties())
        if (data / "logs" / "meta.properties").exists():
            return
        # KRaft storage must be formatted once with a cluster id (a base64 UUID),
        # the same one on every node of a cluster.
        cluster_id = self._cluster_id()
        say(f"{self.name}: formatting KRaft storage (cluster id {cluster_id})")
        installers.run(
            [
                self.java,
                "-cp",
                f"{self.libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
            ],
            "formatting Kafka storage",
            log=self.layout.logs / f"{self.name}-format.log",
        )

    def _cluster_id(self) -> str:
        fresh = new_cluster_id()
        if self.nodes == 1:
            return fresh
        shared = cluster_id_file(self.layout)
        if not shared.exists():
            shared.parent.mkdir(parents=True, exist_ok=True)
            shared.write_text(fresh + "\n")
        return shared.read_text().strip()

    def command(self) -> list[str]:
        # A cluster's nodes share one machine: a modest heap each.
        heap = ["-Xms256m", "-Xmx1g"] if self.nodes == 1 else ["-Xms128m", "-Xmx512m"]
        return [
            self.java,
            *heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]

    def probe(self) -> None:
        probes.kafka(self.port)

    def begin_stop(self) -> None:
        """Ask the node to stop without waiting. `down` asks every node of a
        cluster first: stopped one after another, the last ones would wait
        for a quorum that is already gone."""
        pid = self.pid()
        if pid is not None:
            self._signal_group(pid, signal.SIGTERM)

    def describe(self) -> str:
        if self.nodes == 1:
            return f"Apache Kafka {self.version}, KRaft single node"
        return (
            f"Apache Kafka {self.version}, KRaft node {self.node_id} of {self.nodes} "
            f"(broker+controller, controller port {self.controller_port})"
        )


def new_cluster_id() -> str:
    """A random base64 UUID, as Kafka's own tools make them: never starting
    with "-", which the storage tool would take for an option."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def kafka_nodes(layout: Layout, port: int, controller_port: int, brokers: int) -> list[Kafka]:
    """The nodes of a cluster of ``brokers`` (one plain node when 1)."""
    if brokers < 1:
        raise StackError(f"--kafka-brokers must be 1 or more, not {brokers}")
    if brokers == 1:
        return [Kafka(layout, port, controller_port)]
    listeners = [port + 2 * i for i in range(brokers)]
    controllers = [controller_port + 2 * i for i in range(brokers)]
    clash = set(listeners) & set(controllers)
    if clash or max(listeners + controllers) > 65535:
        raise StackError(
            f"KAFKA_PORT={port} and KAFKA_CONTROLLER_PORT={controller_port} give {brokers} "
            f"brokers overlapping or invalid ports; nodes use consecutive even steps "
            f"(port + 2 per node), so pick ports of different parity or farther apart"
        )
    voters = [(i + 1, controllers[i]) for i in range(brokers)]
    return [
        Kafka(layout, listeners[i], controllers[i], node_id=i + 1, voters=voters)
        for i in range(brokers)
    ]


def running_cluster_size(layout: Layout) -> int:
    """How many nodes the cluster this stack started has (0: none), from the
    pid files: a node that died keeps its file until `down`, so it still counts."""
    size = 0
    for pid_file in layout.run.glob("kafka-*.pid"):
        suffix = pid_file.stem.removeprefix("kafka-")
        if suffix.isdigit():
            size = max(size, int(suffix))
    return size
