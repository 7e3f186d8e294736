"""RabbitMQ from Debian's package, started as a process (there is no systemd).

The broker runs as whoever runs the stack. Debian's /usr/sbin wrapper would
drop from root to the `rabbitmq` user, which then cannot reach a checkout
below a private folder such as /root; the stack calls the broker's own
script directly instead. The stack also runs its own `epmd` (the Erlang
port mapper) on loopback, so `down` leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from . import installers
from .service import Service, read_pid_file, say, write_pid_file

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


class RabbitMQ(Service):
    name = "rabbitmq"
    start_timeout = 60.0

    def __init__(self, layout, port: int, dist_port: int, epmd_port: int) -> None:
        super().__init__(layout, port)
        self.dist_port = dist_port
        self.epmd_port = epmd_port

    @property
    def nodename(self) -> str:
        return f"taskqueue{self.port}@localhost"

    def install(self) -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            installers.apt_install("rabbitmq-server")

    def prepare(self) -> None:
        data = self.layout.data(self.name)
        for folder in (data, data / "mnesia", data / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        (data / "enabled_plugins").write_text("[].\n")
        # An empty config file keeps the machine's /etc/rabbitmq out of it.
        (data / "rabbitmq.conf").write_text(
            "# Written by deploy/local/stack.\nloopback_users.guest = true\n"
        )
        self._start_epmd()

    def environment(self) -> Mapping[str, str]:
        data = self.layout.data(self.name)
        return {
            "HOME": str(data),  # where the Erlang cookie lives
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(data / "mnesia"),
            "RABBITMQ_LOG_BASE": str(data / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_PID_FILE": str(data / "rabbitmq.pid"),
            "RABBITMQ_CONFIG_FILE": str(data / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(data / "enabled_plugins"),
            # Erlang distribution listens on every interface unless told otherwise.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def command(self) -> list[str]:
        return [str(RABBITMQ_BIN / "rabbitmq-server")]

    def describe(self) -> str:
        return f"RabbitMQ (Debian package), node {self.nodename}"

    # -- epmd ---------------------------------------------------------------
    @property
    def epmd_pid_file(self) -> Path:
        return self.layout.run / "epmd.pid"

    def _start_epmd(self) -> None:
        from . import probes

        if probes.port_in_use(self.epmd_port):
            return  # an Erlang port mapper already serves this port; share it
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        self.layout.run.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        write_pid_file(self.epmd_pid_file, process.pid)
        say(f"rabbitmq: started epmd pid {process.pid} on 127.0.0.1:{self.epmd_port}")

    def after_stop(self) -> None:
        pid = read_pid_file(self.epmd_pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        self.epmd_pid_file.unlink(missing_ok=True)
