"""Prometheus from Debian's package, run as a process (no systemd), scraping
the project's own processes on loopback.

Optional: `stack up` starts it only when named (`stack up prometheus`);
`scripts/run` does. Its scrape config is generated into the stack's data
folder at every start, from the ports the project's processes use:

- ``taskqueue-web``: django-prometheus on the web server (HTTP_PORT, 8000);
- ``taskqueue-workers``: each worker's ``metrics_port`` (TASKQUEUE_METRICS_PORT, 9808);
- ``taskqueue-beat``: beat's ``beat_metrics_port`` (TASKQUEUE_BEAT_METRICS_PORT, 9809).

A target that is not running is just ``up == 0`` in Prometheus. The alert
rules in deploy/monitoring/rules are loaded when that folder exists.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import installers, probes
from .service import Layout, Service

SCRAPE_INTERVAL = "5s"
"""Short, for a laptop: a test or a person sees a change within seconds."""


class Prometheus(Service):
    name = "prometheus"
    start_timeout = 60.0

    def __init__(
        self,
        layout: Layout,
        port: int,
        targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (),
        scrape_interval: str = SCRAPE_INTERVAL,
    ) -> None:
        """``targets`` maps a scrape job's name to its ``host:port`` targets."""
        super().__init__(layout, port)
        self.targets = {job: list(hosts) for job, hosts in targets.items()}
        self.rule_files = list(rule_files)
        self.scrape_interval = scrape_interval

    @property
    def config_file(self) -> Path:
        return self.layout.data(self.name) / "prometheus.yml"

    def install(self) -> None:
        if shutil.which("prometheus") is None:
            installers.apt_install("prometheus")

    def prepare(self) -> None:
        self.layout.data(self.name).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.scrape_config())

    def scrape_config(self) -> str:
        """The config file: JSON, which is YAML, so no YAML library is needed."""
        config = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": hosts}]}
                for job, hosts in self.targets.items()
            ],
        }
        return "# Written by deploy/local/stack at each start.\n" + json.dumps(config, indent=2)

    def command(self) -> list[str]:
        data = self.layout.data(self.name)
        return [
            shutil.which("prometheus") or "/usr/bin/prometheus",
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={data / 'tsdb'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def probe(self) -> None:
        """``/-/ready`` answers 200 once the TSDB is open and scraping runs."""
        url = f"http://127.0.0.1:{self.port}/-/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status != 200:
                    raise probes.ProbeFailed(f"{url} answered {reply.status}")
        except urllib.error.HTTPError as exc:
            raise probes.ProbeFailed(f"{url} answered {exc.code}") from exc
        except urllib.error.URLError as exc:
            raise probes.ProbeFailed(f"{url}: {exc.reason}") from exc

    def describe(self) -> str:
        jobs = ", ".join(f"{job} {' '.join(hosts)}" for job, hosts in self.targets.items())
        return f"Prometheus (Debian package), scraping {jobs}"
