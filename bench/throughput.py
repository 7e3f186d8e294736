"""Throughput and latency of no-op tasks: taskqueue on Kafka vs Celery on Redis.

    python -m bench.throughput [--enqueue 50000] [--e2e 20000] [--latency 300]
                               [--concurrency 4] [--celery-scale 0.25]

Figures (each system with ONE worker process, threads pool, same concurrency):

- enqueue/s: tasks submitted and acknowledged by the broker (Kafka acks=all
  for taskqueue, using the bulk API: produce all, wait once; Celery: one
  ``delay()`` per task, as Celery offers no bulk publish).
- end-to-end/s: from the first submit until every task's SUCCESS is visible
  in Redis (taskqueue: its state hash, observed through the events channel;
  Celery: its result keys), with the worker already running and idle.
- submit-to-start p50/p99: one task at a time on an idle worker; the task
  returns ``time.time()`` when it starts.

Uses the local stack (``deploy/local/stack up``); isolated by a unique topic
prefix / key prefix / Mongo database, and Celery on its own Redis db (15,
flushed first). It stops by itself: every phase is bounded by counts and
a timeout.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskqueue.stores.state import StateStore

ROOT = Path(__file__).resolve().parent.parent
PHASE_TIMEOUT = 300.0
"""No phase may run longer than this (seconds): the benchmark always ends."""


@dataclass
class Figures:
    enqueue_rate: float = 0.0
    e2e_rate: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r  {label}: {done}/{total} ({rate:,.0f}/s)   ", end="", flush=True)


def wait_count(label: str, count: Callable[[], int], total: int, started: float) -> float:
    """Wait until ``count() >= total``, printing progress; returns elapsed seconds."""
    last = 0.0
    while (done := count()) < total:
        if time.perf_counter() - started > PHASE_TIMEOUT:
            raise SystemExit(
                f"\n{label}: only {done}/{total} after {PHASE_TIMEOUT:.0f} s, giving up"
            )
        if time.perf_counter() - last > 0.5:
            progress(label, done, total, started)
            last = time.perf_counter()
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    progress(label, total, total, started)
    print()
    return elapsed


def start_worker(args: list[str], env: dict[str, str], ready: str, log: Path) -> subprocess.Popen:
    out = log.open("wb")
    proc = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start; see {log}:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def worker_command(concurrency: int) -> list[str]:
    """One taskqueue worker process of the benchmark app (threads pool)."""
    return [
        sys.executable,
        "-m",
        "taskqueue",
        "worker",
        "-A",
        "bench.bench_tasks",
        "--concurrency",
        str(concurrency),
        "--pool",
        "threads",
        "--loglevel",
        "WARNING",
    ]


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- taskqueue -------------------------------------------------------------------
class FinishedTracker:
    """Which of a set of jobs have a final state in the state store, read in batches.

    (Counting events on the pub/sub channel looked cheaper, but a Python
    subscriber falls behind at this rate and Redis then disconnects it.)
    Until the newest job is final, only that job and an evenly spread sample
    are read, so the check barely loads the machine it measures.
    """

    def __init__(self, store: StateStore, ids: list[str]) -> None:
        self.store = store
        self.keys = list(ids)
        self.total = len(ids)
        self._estimate = 0

    def _final(self, ids: list[str]) -> list[bool]:
        return [s in ("SUCCESS", "FAILURE") for s in self.store.read_states(ids)]

    def count(self) -> int:
        if not self.keys:
            return self.total
        if not self._final([self.keys[-1]])[0]:
            sample = self.keys[:: max(1, len(self.keys) // 100)]
            done = sum(self._final(sample))
            left = len(self.keys)
            self._estimate = self.total - left + int(left * done / max(1, len(sample)))
            return min(self._estimate, self.total - 1)
        finals = self._final(self.keys)
        self.keys = [k for k, final in zip(self.keys, finals, strict=True) if not final]
        return self.total - len(self.keys)


def bench_taskqueue(opts: argparse.Namespace, log_dir: Path) -> Figures:
    run = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        "TASKQUEUE_TOPIC_PREFIX": f"{run}.",
        "TASKQUEUE_KEY_PREFIX": run,
        "TASKQUEUE_RESULT_DATABASE": run,
        "TASKQUEUE_PARTITIONS": str(opts.partitions),
        "TASKQUEUE_STATE_TTL": "600",  # the run's Redis state expires soon after
    }
    os.environ.update(env)  # the app below and the worker read the same settings
    from bench.bench_tasks import app, noop, stamp

    figures = Figures()
    print(f"taskqueue: topics {run}.*, creating...", flush=True)
    app.declare_topics(["default"])
    try:
        figures.enqueue_rate, enqueued = enqueue_taskqueue(app, noop, opts.enqueue)
        worker = start_worker(
            worker_command(opts.concurrency),
            {**env, "TASKQUEUE_GROUP_ID": f"{run}.e2e"},
            "ready",
            log_dir / "taskqueue-worker.log",
        )
        try:
            # The worker first drains the enqueue phase's backlog: wait for it.
            backlog = FinishedTracker(app.state, enqueued)
            wait_count("draining enqueue backlog", backlog.count, opts.enqueue, time.perf_counter())
            started = time.perf_counter()
            ids = []
            for chunk in range(0, opts.e2e, 5000):
                with app.bulk():
                    ids += [noop.delay().id for _ in range(min(5000, opts.e2e - chunk))]
            tracker = FinishedTracker(app.state, ids)
            elapsed = wait_count("end-to-end", tracker.count, opts.e2e, started)
            figures.e2e_rate = opts.e2e / elapsed
            figures.latencies = measure_latency(lambda: stamp.delay(), opts.latency)
        finally:
            stop_worker(worker)
    finally:
        delete_topics(app, run)
        app.result_store.drop()
        app.close()
    return figures


def enqueue_taskqueue(app, task, total: int) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    step = 5000
    ids: list[str] = []
    for chunk in range(0, total, step):
        with app.bulk():  # produce all, wait once for Kafka's acks
            ids += [task.delay().id for _ in range(min(step, total - chunk))]
        progress("enqueue (acked by Kafka)", min(chunk + step, total), total, started)
    print()
    return total / (time.perf_counter() - started), ids


def delete_topics(app, run: str) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": app.settings.broker_url.removeprefix("kafka://")})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{run}.")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


def measure_latency(submit: Callable[[], object], samples: int) -> list[float]:
    out = []
    started = time.perf_counter()
    for i in range(samples):
        t0 = time.time()
        result = submit()
        started_at = result.get(timeout=30)  # type: ignore[attr-defined]
        out.append(started_at - t0)
        if i % 50 == 0:
            progress("submit-to-start samples", i, samples, started)
        time.sleep(0.005)  # idle worker: no queue builds up
    progress("submit-to-start samples", samples, samples, started)
    print()
    return out


# --- celery ------------------------------------------------------------------------
def bench_celery(opts: argparse.Namespace, log_dir: Path) -> Figures:
    import redis  # Celery's own broker, the reference; taskqueue's state goes through its store

    url = opts.celery_redis
    client = redis.Redis.from_url(url)
    client.flushdb()
    os.environ["BENCH_CELERY_REDIS"] = url
    from bench.bench_tasks import make_celery

    capp = make_celery()
    noop, stamp = capp.tasks["bench.celery.noop"], capp.tasks["bench.celery.stamp"]
    figures = Figures()
    n_enqueue = max(1000, int(opts.enqueue * opts.celery_scale))
    n_e2e = max(1000, int(opts.e2e * opts.celery_scale))
    print(f"celery: redis {url} (flushed), {n_enqueue} enqueues, {n_e2e} end-to-end")

    started = time.perf_counter()
    for i in range(n_enqueue):
        noop.delay()
        if i % 1000 == 0:
            progress("enqueue", i, n_enqueue, started)
    figures.enqueue_rate = n_enqueue / (time.perf_counter() - started)
    progress("enqueue", n_enqueue, n_enqueue, started)
    print()
    client.flushdb()  # the e2e phase starts from an empty queue

    worker = start_worker(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.bench_tasks:celery_app",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(opts.concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        {"BENCH_CELERY": "1", "BENCH_CELERY_REDIS": url},
        "ready",
        log_dir / "celery-worker.log",
    )
    try:
        results = []
        started = time.perf_counter()
        for _ in range(n_e2e):
            results.append(noop.delay())
        keys = lambda: sum(1 for _ in client.scan_iter("celery-task-meta-*", count=5000))  # noqa: E731
        elapsed = wait_count("end-to-end", keys, n_e2e, started)
        figures.e2e_rate = n_e2e / elapsed
        figures.latencies = measure_latency(lambda: stamp.delay(), opts.latency)
    finally:
        stop_worker(worker)
        client.flushdb()
    return figures


def report(ours: Figures, celery: Figures | None) -> None:
    rows = [
        ("enqueue/s (broker-acked)", ours.enqueue_rate, celery and celery.enqueue_rate, True),
        ("end-to-end/s (SUCCESS in Redis)", ours.e2e_rate, celery and celery.e2e_rate, True),
        ("submit-to-start p50 (ms)", ours.pct(0.5), celery and celery.pct(0.5), False),
        ("submit-to-start p99 (ms)", ours.pct(0.99), celery and celery.pct(0.99), False),
    ]
    print()
    print(f"{'figure':34} {'taskqueue':>12} {'celery':>12} {'ratio':>8}")
    for name, a, b, higher_better in rows:
        ratio = "" if not b else f"{(a / b if higher_better else b / a):.1f}x"
        b_text = f"{b:12,.1f}" if b else f"{'-':>12}"
        print(f"{name:34} {a:12,.1f} {b_text} {ratio:>8}")
    print("(ratio: how many times better taskqueue is; for latency, celery/taskqueue)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enqueue", type=int, default=50_000)
    parser.add_argument("--e2e", type=int, default=20_000)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--celery-scale",
        type=float,
        default=0.25,
        help="Celery runs this fraction of the counts (it is slower)",
    )
    parser.add_argument("--celery-redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--skip-celery", action="store_true")
    opts = parser.parse_args()
    log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))
    print(f"worker logs in {log_dir}")
    ours = bench_taskqueue(opts, log_dir)
    celery = None if opts.skip_celery else bench_celery(opts, log_dir)
    report(ours, celery)


if __name__ == "__main__":
    main()
