"""A MongoDB-wire server: `mongod` when installed, else FerretDB on PostgreSQL.

MongoDB itself is not in Debian, so on a fresh machine this is FerretDB
(Apache-2.0), built from its Go module at a pinned version, storing its
data in the stack's PostgreSQL (see postgres.py). Its SQLite backend is not
used: it scans a whole collection for a lookup by `_id` (1.85 s for a miss
at 63k results), where PostgreSQL answers from the `_id` index.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import installers
from .service import Layout, Service

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"


def _write_version(source: Path) -> None:
    # FerretDB embeds build/version/version.txt, which its release tooling
    # generates; a build from the module source has to supply it.
    (source / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")


class Mongo(Service):
    name = "mongo"
    start_timeout = 30.0

    def __init__(self, layout: Layout, port: int, postgres_url: str) -> None:
        super().__init__(layout, port)
        self.postgres_url = postgres_url

    @property
    def mongod(self) -> str | None:
        return shutil.which("mongod")

    @property
    def ferretdb(self) -> Path:
        return self.layout.cache / "bin" / f"ferretdb-{FERRETDB_VERSION}"

    def install(self) -> None:
        if self.mongod is None and not self.ferretdb.exists():
            installers.go_build_module(
                FERRETDB_MODULE,
                FERRETDB_VERSION,
                "./cmd/ferretdb",
                self.ferretdb,
                self.layout.cache,
                prepare_source=_write_version,
            )

    def prepare(self) -> None:
        (self.layout.data(self.name) / "db").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        data = self.layout.data(self.name)
        if self.mongod:
            return [
                self.mongod,
                "--bind_ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dbpath",
                str(data / "db"),
            ]
        return [
            str(self.ferretdb),
            "--handler=postgresql",
            f"--postgresql-url={self.postgres_url}",
            f"--listen-addr=127.0.0.1:{self.port}",
            f"--state-dir={data}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-format=text",
            "--log-level=warn",
        ]

    def describe(self) -> str:
        if self.mongod:
            return f"mongod ({self.mongod})"
        return f"FerretDB {FERRETDB_VERSION} with the PostgreSQL backend"
