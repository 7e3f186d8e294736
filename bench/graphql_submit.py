"""Job submissions per second through ``/graphql`` on a real daphne.

    python -m bench.graphql_submit [--clients 16] [--requests 4000]
                                   [--bulk-size 10] [--runs 3] [--database-url URL]

A daphne serving ``config.asgi`` (the project's settings, quotas that never
refuse: ``bench.graphql_settings``), 16 concurrent HTTP clients (httpx, one
keep-alive connection each, bearer token), each sending one ``submitJob``
at a time; then the same with ``submitJobs`` of ``--bulk-size`` jobs. A
submission is answered once its row is stored and Kafka acknowledged its
message (``acks=all``). No worker runs: the jobs stay queued. Prints the
rate (requests/s and jobs/s) and each request's latency p50/p99, medians
over ``--runs``.

Uses the local stack (Kafka, Redis, Mongo) with a unique topic and key
prefix, and by default a fresh SQLite database in a temporary folder (the
site's default; ``--database-url`` for PostgreSQL). Everything it creates
is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SUBMIT = (
    "mutation($input: SubmitJobInput!) { submitJob(input: $input) "
    "{ job { id state } errors { field message } } }"
)
SUBMIT_MANY = (
    "mutation($input: SubmitJobsInput!) { submitJobs(input: $input) "
    "{ jobs { id state } errors { field message } } }"
)
JOB = {"provider": "weather", "params": {"places": [{"name": "Oslo"}]}}


@dataclass
class Phase:
    requests: int
    jobs: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


async def hammer(
    base: str, token: str, clients: int, requests: int, query: str, variables: dict[str, Any]
) -> Phase:
    """``clients`` concurrent clients, each posting one request at a time."""
    import httpx

    latencies: list[float] = []
    each = requests // clients
    jobs_per_request = len(variables["input"].get("jobs", [None]))

    async def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            for _ in range(each):
                t0 = time.perf_counter()
                answer = await http.post("/graphql", json={"query": query, "variables": variables})
                latencies.append(time.perf_counter() - t0)
                body = answer.json()
                payload = (body.get("data") or {}).get("submitJob") or (body.get("data") or {}).get(
                    "submitJobs"
                )
                if answer.status_code != 200 or not payload or payload["errors"]:
                    raise SystemExit(f"submission refused: {answer.status_code} {body}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return Phase(len(latencies), len(latencies) * jobs_per_request, elapsed, latencies)


def prepare(env: dict[str, str]) -> tuple[str, Any]:
    """Migrate the database, create a person with an API token, declare the topics."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from jobs.models import ApiToken
    from jobs.taskapp import QUEUES, get_app

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(f"bench-{secrets.token_hex(4)}")
    _, token = ApiToken.issue(user, name="bench")
    app = get_app()
    app.declare_topics(list(QUEUES))
    return token, app


def serve(env: dict[str, str], log: Path) -> tuple[Any, str]:
    import subprocess

    import httpx

    from tests.support.servers import free_port

    port = free_port()
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        + ["config.asgi:application"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/accounts/csrf/", timeout=1)
            return proc, base
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"daphne did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def cleanup(app: Any, prefix: str) -> None:
    from confluent_kafka.admin import AdminClient

    bootstrap = app.settings.broker_url.removeprefix("kafka://")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
    app.result_store.drop()
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000, help="submitJob requests per run")
    parser.add_argument("--bulk-size", type=int, default=10, help="jobs per submitJobs request")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    opts = parser.parse_args()
    run = f"gqlbench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="gqlbench") as tmp:
        env = {
            "DJANGO_SETTINGS_MODULE": "bench.graphql_settings",
            "DATABASE_URL": opts.database_url or f"sqlite:///{tmp}/db.sqlite3",
            "TASKQUEUE_TOPIC_PREFIX": f"{run}.",
            "TASKQUEUE_KEY_PREFIX": run,
            "TASKQUEUE_RESULT_DATABASE": run,
            "TASKQUEUE_STATE_TTL": "600",
            "DEBUG": "false",  # no per-query bookkeeping, as in production
            "SECRET_KEY": secrets.token_urlsafe(40),
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
            "SECURE_HSTS_SECONDS": "0",
        }
        token, app = prepare(env)
        proc, base = serve(env, Path(tmp) / "daphne.log")
        print(f"daphne at {base}, database {env['DATABASE_URL']}, load {os.getloadavg()}")
        single: list[Phase] = []
        bulk: list[Phase] = []
        many = {"input": {"jobs": [JOB] * opts.bulk_size}}
        try:
            asyncio.run(hammer(base, token, opts.clients, opts.clients * 4, SUBMIT, {"input": JOB}))
            for i in range(opts.runs):
                single.append(
                    asyncio.run(
                        hammer(base, token, opts.clients, opts.requests, SUBMIT, {"input": JOB})
                    )
                )
                requests = max(opts.clients, opts.requests // opts.bulk_size)
                bulk.append(
                    asyncio.run(hammer(base, token, opts.clients, requests, SUBMIT_MANY, many))
                )
                print(
                    f" run {i + 1}: submitJob {single[-1].jobs / single[-1].elapsed:,.0f} jobs/s, "
                    f"submitJobs x{opts.bulk_size} {bulk[-1].jobs / bulk[-1].elapsed:,.0f} jobs/s"
                )
        finally:
            from tests.support.servers import stop

            stop(proc)
            cleanup(app, f"{run}.")
        print(f"\n{opts.clients} concurrent clients, medians of {opts.runs} run(s)")
        print(f"{'mutation':26} {'requests/s':>11} {'jobs/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for label, phases in (("submitJob", single), (f"submitJobs x{opts.bulk_size}", bulk)):
            rate = statistics.median(p.requests / p.elapsed for p in phases)
            jobs = statistics.median(p.jobs / p.elapsed for p in phases)
            p50 = statistics.median(p.pct(0.5) for p in phases)
            p99 = statistics.median(p.pct(0.99) for p in phases)
            print(f"{label:26} {rate:11,.0f} {jobs:9,.0f} {p50:8.1f} {p99:8.1f}")
        print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
