"""Delivery latency of live progress: a worker's progress call to the websocket frame.

    python -m bench.progress_latency [--subscribers 200] [--ticks 100] [--rate 20]
                                     [--jobs 10] [--timeout 60]

What is timed, per frame: from the progress write a task makes
(``Task.progress`` -> the state backend's Lua script, which PUBLISHes the
event) to the moment a subscriber's websocket client has the ``next`` frame
carrying it. In between: Redis pub/sub, the ASGI process's event hub
(progress/hub.py), graphene resolving the subscriber's selection, daphne,
the socket. The write's wall-clock time travels in the progress message, so
the client computes each frame's latency itself (same machine, same clock).

Setup (all real, on the local stack): a scratch SQLite database migrated
for the run, one user with an API token, ``--jobs`` Job rows; daphne serving
config.asgi on a free port with an isolated key prefix; ``--subscribers``
websocket clients (the `websockets` package) speaking graphql-transport-ws,
each subscribed to ``jobUpdated`` of one of the jobs. A writer thread then
reports ``--ticks`` progress steps per job at ``--rate`` steps/s. Bounded:
ticks and ``--timeout``. Prints progress while running, then p50/p95/p99/max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY = "subscription($id: ID!) { jobUpdated(id: $id) { id state progress { current message } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def prepare(env: dict[str, str], jobs: int) -> tuple[str, list[str]]:
    """Migrate the scratch database; create a user, its token and the jobs."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from jobs.models import ApiToken, Job

    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    _, token = ApiToken.issue(user)
    ids = [str(Job.objects.create(owner=user, provider="quote").pk) for _ in range(jobs)]
    return token, ids


def start_daphne(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    import httpx

    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"daphne did not start:\n{log.read_text()[-2000:]}")


async def subscriber(
    port: int,
    token: str,
    job_id: str,
    latencies: list[float],
    ready: asyncio.Event,
    done: asyncio.Event,
) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        max_queue=None,
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        await ws.recv()
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "1",
                    "payload": {"query": QUERY, "variables": {"id": job_id}},
                }
            )
        )
        await ws.recv()  # the snapshot
        ready.set()
        while not done.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            message = json.loads(raw)
            if message.get("type") != "next":
                continue
            sent = (message["payload"]["data"]["jobUpdated"]["progress"] or {}).get("message")
            if sent:
                latencies.append(now - float(sent))


def writer(prefix: str, ids: list[str], ticks: int, rate: float, stop: threading.Event) -> None:
    """What a task's ``self.progress(i, total)`` does, at a steady rate."""
    from jobs.taskapp import get_app
    from taskqueue.stores.state import StateUpdate

    backend = get_app().state_backend
    assert backend.prefix == prefix
    for i in range(1, ticks + 1):
        if stop.is_set():
            return
        began = time.monotonic()
        for job_id in ids:
            backend.write(
                StateUpdate(
                    job_id,
                    "PROGRESS",
                    0,
                    task="providers.quote",
                    payload={"current": i, "total": ticks, "message": repr(time.time())},
                )
            )
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - began)))


async def run(
    args: argparse.Namespace, port: int, token: str, ids: list[str], prefix: str
) -> list[float]:
    latencies: list[float] = []
    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(args.subscribers)]
    tasks = [
        asyncio.create_task(subscriber(port, token, ids[n % len(ids)], latencies, readies[n], done))
        for n in range(args.subscribers)
    ]
    started = time.monotonic()
    async with asyncio.timeout(args.timeout):
        for r in readies:
            await r.wait()
    print(
        f"{args.subscribers} subscribers connected in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(prefix, ids, args.ticks, args.rate, stop))
    thread.start()
    expected = args.ticks * args.subscribers
    deadline = time.monotonic() + args.timeout
    while thread.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        recent = latencies[-2000:]
        p99 = percentile(recent, 0.99) * 1000 if recent else float("nan")
        print(f"  frames {len(latencies)}/{expected}, recent p99 {p99:.1f} ms", flush=True)
    stop.set()
    await asyncio.to_thread(thread.join)
    await asyncio.sleep(1.0)  # stragglers
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--ticks", type=int, default=100, help="progress steps per job")
    parser.add_argument("--rate", type=float, default=20.0, help="steps per second per job")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-progress-"))
    prefix = f"benchp{os.getpid()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "TASKQUEUE_KEY_PREFIX": prefix,
        "TASKQUEUE_STATE_TTL": "600",
    }
    port = free_port()
    proc = None
    try:
        token, ids = prepare(env, args.jobs)
        proc = start_daphne(env, port, scratch / "daphne.log")
        latencies = asyncio.run(run(args, port, token, ids, prefix))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)
    if not latencies:
        print("no frames received")
        return 1
    ms = [x * 1000 for x in latencies]
    expected = args.ticks * args.subscribers
    print(
        f"\n{args.subscribers} subscribers, {args.jobs} jobs, {args.ticks} ticks/job at "
        f"{args.rate:g}/s ({args.rate * args.jobs:g} progress writes/s, "
        f"{args.rate * args.subscribers:g} frames/s)"
    )
    print(f"frames received: {len(ms)} of {expected} ({100 * len(ms) / expected:.1f} %)")
    print(
        f"latency ms: p50 {statistics.median(ms):.1f}  p95 {percentile(ms, 0.95):.1f}  "
        f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
