"""Apache Kafka: one KRaft node (broker and controller), jars from Maven Central."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

from . import installers
from .service import Service, say

HERE = Path(__file__).resolve().parent.parent / "kafka"
POM = HERE / "pom.xml"
LOG_CONFIG = HERE / "log4j2.properties"


def kafka_version() -> str:
    """The broker version is pinned once, in the pom."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match, "kafka.version missing from deploy/local/kafka/pom.xml"
    return match.group(1)


class Kafka(Service):
    name = "kafka"
    start_timeout = 90.0

    def __init__(self, layout, port: int, controller_port: int) -> None:
        super().__init__(layout, port)
        self.controller_port = controller_port
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

    def _server_properties(self) -> str:
        data = self.layout.data(self.name)
        return "\n".join(
            [
                "# Written by deploy/local/stack on every start; edit the stack, not this file.",
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={data / 'logs'}",
                # Topics are created by the project, never by a typo in a client.
                "auto.create.topics.enable=false",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=10",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # A single node has nobody to wait for; join consumer groups at once.
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
        # KRaft storage must be formatted once with a cluster id (a base64 UUID).
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        say(f"kafka: formatting KRaft storage (cluster id {cluster_id})")
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
            log=self.layout.logs / "kafka-format.log",
        )

    def command(self) -> list[str]:
        return [
            self.java,
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]

    def describe(self) -> str:
        return f"Apache Kafka {self.version}, KRaft single node"
