"""End-to-end fixtures: the real app in subprocesses, driven by headless Chromium.

One live stack per session, as a person would run it:

- its own SQLite file (``manage.py migrate`` and the users made by
  ``manage.py shell`` in subprocesses, so the test process never opens it);
- its own Kafka topics, Redis keys and Mongo database (``TASKQUEUE_*``
  prefixes unique to the run), the topics made by ``manage.py create_topics``;
- the provider sandbox in this process (slow answers take ``SLOW_SECONDS``,
  long enough to watch a progress bar and to cancel a running job);
- ``manage.py worker`` on the three queues and daphne serving
  ``config.asgi`` (HTTP, the built UI and the GraphQL websocket).

The browser is Debian's Chromium (``CHROMIUM_PATH``), never a downloaded
one: one browser per session, a fresh context (cookies, storage) per test.
Any console error or uncaught page error fails the test that caused it (the
UI must have none). Screenshots go to ``test-artifacts/screenshots/``; the
committed set in ``docs/screenshots/`` is a copy of the ``readme-*`` ones
(``tests/e2e/test_screens.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from config.environment import PROJECT_ROOT, Environment
from providers.sandbox.server import SandboxServer
from tests.conftest import RUN_ID

ENV = Environment.from_env()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
SLOW_SECONDS = 4.0
"""How long the sandbox holds a ``sandbox-slow-*`` / ``sandbox/slow-*`` answer.
Long enough for a browser to see a job running (and cancel it), short
enough to keep the whole run near two minutes."""

PASSWORDS = {"alice": "alice-e2e-pw-1", "bob": "bob-e2e-pw-2", "demo": "demo-e2e-pw-3"}
"""Regular users; ``demo`` only appears in the README screenshots (a clean job list)."""
UI_WAIT_MS = 60_000
"""Generous upper bound for anything a job or the server must do first: a
2-core CI machine runs the browser, daphne, a worker and Kafka at once."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log: {exc})"


@dataclass
class Stack:
    """The running app: where it answers, and how to read its processes' logs."""

    base_url: str
    env: dict[str, str]
    logdir: Path
    sandbox: SandboxServer
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.logdir / f"{name}.log"

    def tails(self) -> str:
        # The long-running processes; one-off commands fail with their own output.
        return "\n".join(
            f"----- {name} log, last lines ({self.log(name)}) -----\n{_tail(self.log(name))}"
            for name in self.procs
        )

    def manage(self, *args: str, timeout: float = 120) -> str:
        """Run one ``manage.py`` command to completion with the stack's environment."""
        name = args[0].replace("_", "-")
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.log(f"cmd-{name}").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            pytest.fail(
                f"manage.py {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}",
                pytrace=False,
            )
        return result.stdout

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(self.log(name), "wb") as out:
            proc = subprocess.Popen(
                argv, cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs[name] = proc
        return proc

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float, *procs: str) -> None:
        """Poll ``ready`` (a log line, an HTTP answer); a process that exits fails at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            for name in procs:
                code = self.procs[name].poll()
                if code is not None:
                    pytest.fail(
                        f"{name} exited with {code} before {what}:\n{self.tails()}", pytrace=False
                    )
            time.sleep(0.2)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.tails()}")

    def stop(self) -> None:
        # Reverse order: the server first (no new work), then the worker,
        # which may still be finishing a cancelled slow job.
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


_STACK: Stack | None = None
"""The session's stack, for the report hook that appends its logs to failures."""


def _ui_build() -> Path:
    index = PROJECT_ROOT / "frontend" / "dist" / "index.html"
    if not index.is_file():
        pytest.fail(
            f"the UI is not built ({index} is missing): run scripts/install, "
            "or `cd frontend && npm ci && npm run build`",
            pytrace=False,
        )
    return index


def _cleanup_services(env: dict[str, str]) -> None:
    """Delete the run's topics and Mongo database (its Redis keys carry a TTL or
    are few; scanning the shared keyspace would cost seconds)."""
    from confluent_kafka.admin import AdminClient
    from pymongo import MongoClient

    prefix = env["TASKQUEUE_TOPIC_PREFIX"]
    admin = AdminClient({"bootstrap.servers": ENV.kafka_bootstrap_servers})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        # operation_timeout=0: the broker finishes the deletion in the background.
        for future in admin.delete_topics(topics, operation_timeout=0).values():
            future.result()
    with MongoClient(ENV.mongo_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(env["TASKQUEUE_RESULT_DATABASE"])


@pytest.fixture(scope="package")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    redis_url: str,
    mongo_url: str,
    rabbitmq_url: str,
) -> Iterator[Stack]:
    global _STACK
    _ui_build()
    tmp = tmp_path_factory.mktemp("e2e")
    name = f"e2e{RUN_ID}"
    sandbox = SandboxServer(slow_seconds=SLOW_SECONDS).start()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'e2e.sqlite3'}",
        "PROVIDERS_SANDBOX_URL": sandbox.url,
        # Well above SLOW_SECONDS: a slow answer is slow, not a timeout.
        "PROVIDERS_TIMEOUT": "15",
        "TASKQUEUE_TOPIC_PREFIX": f"{name}.",
        "TASKQUEUE_KEY_PREFIX": name,
        "TASKQUEUE_RESULT_DATABASE": name,
        "TASKQUEUE_PARTITIONS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    logdir = tmp / "logs"
    logdir.mkdir()
    stack = Stack(base_url=f"http://127.0.0.1:{port}", env=env, logdir=logdir, sandbox=sandbox)
    _STACK = stack
    try:
        stack.manage("migrate", "--noinput")
        users = "; ".join(
            f"User.objects.create_user({user!r}, password={pw!r})" for user, pw in PASSWORDS.items()
        )
        stack.manage(
            "shell",
            "-c",
            f"from django.contrib.auth import get_user_model; User = get_user_model(); {users}",
        )
        stack.manage("create_topics", "--queues", "high,default,low")
        stack.start(
            "worker",
            [sys.executable, "manage.py", "worker"]
            + ["--queues", "high,default,low", "--concurrency", "8"],
        )
        stack.start(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["config.asgi:application"],
        )

        def worker_ready() -> bool:
            return re.search(r"^ready$", _tail(stack.log("worker"), 100_000), re.M) is not None

        def server_healthy() -> bool:
            try:
                return httpx.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        stack.wait_until("the worker's 'ready' line", worker_ready, 90, "worker")
        stack.wait_until("daphne's /healthz to answer 200", server_healthy, 60, "daphne")
        yield stack
    finally:
        stack.stop()
        sandbox.stop()
        try:
            _cleanup_services(env)
        finally:
            _STACK = None


# Package scope, not session: Playwright's sync API keeps an asyncio loop
# running in the main thread while it is open, which would break every later
# test that calls asyncio.run(); the stack's worker and server also stop
# before the other suites run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {executable!r}: install Debian's `chromium` package "
            "(scripts/install does) or point CHROMIUM_PATH at a Chromium binary. "
            "The tests never download a browser.",
            pytrace=False,
        )
    # Screenshots of an earlier run (FAILED-* ones especially) would mislead.
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Console:
    """What a context's pages said: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "") if message.location else ""
        self.errors.append(f"console.error: {message.text} ({where})")

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")


@dataclass
class Browsing:
    """A test's window on the app: contexts it opens share the console check."""

    browser: Browser
    stack: Stack
    test_name: str
    console: Console = field(default_factory=Console)
    contexts: list[BrowserContext] = field(default_factory=list)

    def context(self, **options: Any) -> BrowserContext:
        context = self.browser.new_context(base_url=self.stack.base_url, **options)
        context.set_default_timeout(15_000)
        context.on("console", self.console.on_console)
        context.on("weberror", lambda e: self.console.on_page_error(e.error))
        self.contexts.append(context)
        return context

    def page(self, **options: Any) -> Page:
        return self.context(**options).new_page()

    def shot(self, page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


@pytest.fixture
def browsing(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    browsing = Browsing(browser, stack, _safe(request.node.name))
    yield browsing
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        # The last thing each page showed, to read next to the error.
        for i, context in enumerate(browsing.contexts):
            for j, page in enumerate(context.pages):
                # A page that died must not hide the failure itself.
                with contextlib.suppress(Exception):
                    browsing.shot(page, f"FAILED-{i}-{j}")
    for context in browsing.contexts:
        context.close()
    if browsing.console.errors:
        pytest.fail("the UI logged errors:\n" + "\n".join(browsing.console.errors), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # The browsing fixture reads the call's outcome to screenshot failures.
    setattr(item, f"rep_{report.when}", report)
    if report.failed and _STACK is not None:
        report.sections.append(("subprocess logs (e2e stack)", _STACK.tails()))
    return report


def copy_to_docs(source: Path, name: str) -> None:
    """Refresh a committed README screenshot (only when E2E_UPDATE_DOCS=1)."""
    if os.environ.get("E2E_UPDATE_DOCS") == "1":
        target = PROJECT_ROOT / "docs" / "screenshots" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
