"""One local service: install it, start it as a process, probe it, stop it.

A pid file holds the pid and the kernel's start time of that process. It
is trusted only while a live process has both, so `down` never signals a
process the stack did not start (a recycled pid, or a server somebody else
runs). Environment markers would not do: Redis rewrites its environment
block to set its process title.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import probes


class StackError(Exception):
    """A service could not be installed, started or stopped; says which and why."""


@dataclass(frozen=True)
class Layout:
    """Where the stack keeps its state: one git-ignored folder."""

    home: Path
    cache: Path

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    def data(self, service: str) -> Path:
        return self.home / "data" / service


def say(message: str) -> None:
    """Progress for the person at the terminal (stderr keeps stdout for data)."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


class Service:
    """Base class; subclasses give the command line and the probe."""

    name: str = ""
    start_timeout: float = 60.0
    stop_timeout: float = 30.0
    open_files: int | None = None
    """Open-file limit the process needs, raised as far as allowed at launch."""

    def __init__(self, layout: Layout, port: int) -> None:
        self.layout = layout
        self.port = port

    # -- what subclasses provide -------------------------------------------
    def install(self) -> None:
        """Make the binaries available (apt-get, Maven, go build)."""

    def prepare(self) -> None:
        """First-start work: folders, config files, storage formatting."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str]:
        return {}

    def probe(self) -> None:
        probes.PROBES[self.name](self.port)

    def describe(self) -> str:
        """What runs, for status (e.g. which MongoDB-wire server)."""
        return self.name

    # -- files ---------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.layout.logs / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.layout.run / f"{self.name}.pid"

    # -- process bookkeeping ----------------------------------------------
    def pid(self) -> int | None:
        """The pid of our running process, or None."""
        return read_pid_file(self.pid_file)

    def healthy(self) -> str | None:
        """None when the probe succeeds, else the reason it failed."""
        try:
            self.probe()
        except (OSError, probes.ProbeFailed) as exc:
            return str(exc) or exc.__class__.__name__
        return None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join("    " + line for line in text[-lines:])

    # -- lifecycle -----------------------------------------------------------
    def launch(self) -> bool:
        """Start the process unless ours already runs; True when started now."""
        if self.pid() is not None:
            say(f"{self.name}: already running (pid {self.pid()}, port {self.port})")
            return False
        if probes.port_in_use(self.port):
            raise StackError(
                f"{self.name}: port {self.port} is already in use by a process this "
                f"stack did not start. Stop that process, or pick another port "
                f"(see `deploy/local/stack --help` for the port variables)."
            )
        self.install()
        self.prepare()
        for folder in (self.layout.logs, self.layout.run):
            folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment()}
        try:
            with open(self.log_file, "ab") as log:
                process = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.layout.data(self.name),
                    start_new_session=True,
                    preexec_fn=self._raise_open_files if self.open_files else None,
                )
        except OSError as exc:
            raise StackError(f"{self.name}: could not start {self.command()[0]}: {exc}") from exc
        write_pid_file(self.pid_file, process.pid)
        say(f"{self.name}: started pid {process.pid} on 127.0.0.1:{self.port}")
        return True

    def _raise_open_files(self) -> None:
        """In the child before exec: as many open files as asked, or the most
        this user may have (root may go beyond the hard limit)."""
        assert self.open_files is not None
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        for limit in (self.open_files, hard):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
                return
            except (ValueError, OSError):
                continue

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        reason = "not probed yet"
        while time.monotonic() < deadline:
            reason = self.healthy() or ""
            if not reason:
                say(f"{self.name}: healthy ({self.describe()})")
                return
            if self.pid() is None:
                raise StackError(
                    f"{self.name}: the process exited during start-up; "
                    f"log {self.log_file}:\n{self.log_tail()}"
                )
            time.sleep(0.25)
        raise StackError(
            f"{self.name}: not healthy on port {self.port} after "
            f"{self.start_timeout:.0f}s ({reason}); log {self.log_file}:\n{self.log_tail()}"
        )

    def stop(self) -> bool:
        """Stop our process group; True when something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            say(f"{self.name}: did not stop within {self.stop_timeout:.0f}s; killing it")
            self._signal_group(pid, signal.SIGKILL)
        self.after_stop()
        self.pid_file.unlink(missing_ok=True)
        say(f"{self.name}: stopped (pid {pid})")
        return True

    def after_stop(self) -> None:
        """Hook for services that leave helpers behind."""

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19] if fields[0] != "Z" else None


def write_pid_file(path: Path, pid: int) -> None:
    path.write_text(f"{pid} {_start_time(pid)}\n")


def read_pid_file(path: Path) -> int | None:
    """The pid recorded in `path` if that very process still runs, else None."""
    try:
        pid_text, started = path.read_text().split()
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
