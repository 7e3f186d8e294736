"""PostgreSQL from Debian's package: the storage behind the local FerretDB.

FerretDB's SQLite backend scans a table for every query, so a lookup by
`_id` grows with every result ever stored; on PostgreSQL each collection is
a table with a unique index on `_id`, and lookups stay logarithmic.

The cluster listens on loopback only and trusts local connections (a
development stack, like the others). It lives in the stack's data folder;
but PostgreSQL refuses to run as root, so as root (CI) the stack runs it as
Debian's `postgres` account, which often cannot reach the stack's folder
(a checkout under /root, pytest's private temporary folders): then the
cluster lives in that account's home instead, in
`~postgres/taskqueue-stack/<id>/`, one folder per stack home.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from . import installers, probes
from .service import Service, StackError, say

USER = "taskqueue"
"""The superuser `initdb` creates; FerretDB connects as it."""
FERRETDB_DATABASE = "ferretdb"
"""The database FerretDB keeps its collections in (one schema per Mongo database)."""
ACCOUNT = "postgres"
"""Debian's system account for PostgreSQL, used when the stack runs as root."""

INDEX_ID_SQL = """
CREATE OR REPLACE FUNCTION taskqueue_index_id() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    created record;
BEGIN
    FOR created IN
        SELECT c.oid::regclass AS tbl
        FROM pg_event_trigger_ddl_commands() AS d
        JOIN pg_class AS c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attname = '_jsonb'
        WHERE d.command_tag = 'CREATE TABLE' AND c.relkind = 'r'
    LOOP
        EXECUTE format(
            'CREATE INDEX ON %s USING gin ((_jsonb -> ''_id'') jsonb_path_ops) '
            'WITH (fastupdate = off)',
            created.tbl
        );
    END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS taskqueue_index_id;

CREATE EVENT TRIGGER taskqueue_index_id ON ddl_command_end
WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION taskqueue_index_id();
"""
"""Gives every collection table FerretDB creates an index its `_id` lookups use.

FerretDB v1 stores a collection as a table of one `_jsonb` column with a
unique btree index on `_jsonb->'_id'`, but it filters with containment
(`_jsonb->'_id' @> $2`), which a btree cannot answer: every `find_one`,
upsert and delete by `_id` scanned the table (tens of milliseconds at 100k
documents). A GIN index on the same expression answers `@>`; with
`fastupdate` off, new entries go straight into the tree instead of a pending
list that each lookup would scan. An event trigger adds it to each table as
FerretDB creates it, whatever the database or collection."""


def _bin_dir() -> Path | None:
    """The newest installed server's bin folder (/usr/lib/postgresql/<major>/bin)."""
    found = [
        p.parent
        for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")
        if p.parent.parent.name.isdigit()
    ]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def _account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        raise StackError(
            f"postgres: running as root needs the `{ACCOUNT}` account "
            f"(Debian's postgresql package creates it)"
        ) from None


class Postgres(Service):
    name = "postgres"
    start_timeout = 60.0
    stop_timeout = 60.0

    @functools.cached_property
    def home(self) -> Path:
        """Where the cluster and its socket live (see the module's docstring)."""
        own = self.layout.data(self.name)
        if os.geteuid() != 0 or self._reachable(own):
            return own
        stack = hashlib.sha256(str(self.layout.home.resolve()).encode()).hexdigest()[:16]
        return Path(_account().pw_dir) / "taskqueue-stack" / stack

    def _reachable(self, folder: Path) -> bool:
        """Whether the `postgres` account can get to ``folder`` (root creates the
        missing part, searchable, and hands the last folder over)."""
        existing = folder
        while not existing.exists():
            existing = existing.parent
        probe = subprocess.run(self._as_owner(["test", "-x", str(existing)]), check=False)
        return probe.returncode == 0

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.home / "socket"

    @property
    def url(self) -> str:
        """What FerretDB's `--postgresql-url` takes."""
        return f"postgres://{USER}@127.0.0.1:{self.port}/{FERRETDB_DATABASE}"

    def install(self) -> None:
        if _bin_dir() is None:
            installers.apt_install("postgresql")

    def _bin(self, program: str) -> str:
        folder = _bin_dir()
        if folder is None:
            raise StackError("postgres: no server under /usr/lib/postgresql (install postgresql)")
        return str(folder / program)

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", f"--reuid={ACCOUNT}", f"--regid={ACCOUNT}", "--init-groups", *argv]

    def prepare(self) -> None:
        data = self.home
        self.layout.data(self.name).mkdir(parents=True, exist_ok=True)  # the process's cwd
        for folder in (data, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._hand_over(data)
        if not (self.pgdata / "PG_VERSION").exists():
            self._init_cluster(data)

    def _hand_over(self, data: Path) -> None:
        account = _account()
        for folder in (data.parent, data, self.socket_dir):
            os.chown(folder, account.pw_uid, account.pw_gid)
        probe = subprocess.run(self._as_owner(["test", "-w", str(data)]), check=False)
        if probe.returncode != 0:
            raise StackError(
                f"postgres: PostgreSQL refuses to run as root, and the `{ACCOUNT}` account "
                f"cannot write {data}; make its parent folders searchable (chmod o+x)"
            )

    def _init_cluster(self, data: Path) -> None:
        # Built aside and renamed: a half-made cluster is never taken for a ready one.
        staging = data / "pgdata.partial"
        shutil.rmtree(staging, ignore_errors=True)
        say("postgres: creating the cluster (first start only) ...")
        installers.run(
            self._as_owner(
                [
                    self._bin("initdb"),
                    "-D",
                    str(staging),
                    "-U",
                    USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ]
            ),
            "initdb",
            log=self.layout.logs / "postgres-initdb.log",
        )
        # Single-user mode sets the database up before the server ever listens,
        # so FerretDB never meets a server without it.
        self._single_user(staging, "postgres", f"CREATE DATABASE {FERRETDB_DATABASE};")
        self._single_user(staging, FERRETDB_DATABASE, INDEX_ID_SQL)
        staging.rename(self.pgdata)

    def _single_user(self, pgdata: Path, database: str, sql: str) -> None:
        # -j: statements end at a semicolon followed by an empty line, so a
        # function body may span lines.
        done = subprocess.run(
            self._as_owner([self._bin("postgres"), "--single", "-j", "-D", str(pgdata), database]),
            input=sql.strip() + "\n\n",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if done.returncode != 0 or "ERROR:" in done.stdout:
            raise StackError(f"postgres: setting up database {database} failed:\n{done.stdout}")

    def command(self) -> list[str]:
        return self._as_owner(
            [
                self._bin("postgres"),
                "-D",
                str(self.pgdata),
                "-p",
                str(self.port),
                "-k",
                str(self.socket_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                # The machine's cluster config is not read; say what we want here.
                "-c",
                "max_connections=200",
            ]
        )

    def probe(self) -> None:
        probes.postgres(self.port, USER, FERRETDB_DATABASE)

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client
        # (FerretDB's pool never leaves); SIGINT to the postmaster alone is the
        # "fast" one: sessions end, a checkpoint is written, the server exits.
        # Signalling its children directly would look like a crash to it.
        if sig == signal.SIGTERM:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            return
        Service._signal_group(pid, sig)

    def describe(self) -> str:
        folder = _bin_dir()
        major = folder.parent.name if folder else "?"
        return f"PostgreSQL {major} (Debian package), database {FERRETDB_DATABASE}"
