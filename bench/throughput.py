"""What users see when they submit no-op tasks: taskqueue on Kafka vs Celery.

    python -m bench.throughput [--runs 3] [--calls 4000] [--async-calls 10000]
                               [--e2e 8000] [--enqueue 50000] [--latency 300]

Systems, in one run on one machine: taskqueue (Kafka, ``acks=all``,
idempotent producer), Celery 5 on its Redis broker (the reference, Redis
db 15, flushed first) and Celery on kombu's ``confluentkafka`` transport
(the off-the-shelf way to run Celery on Kafka; every phase of it has a
timeout, and a phase that does not finish is reported with what was
observed, not with a number).

Figures (medians over ``--runs``; latencies are per call, from the call to
its return, i.e. to the broker's acknowledgment):

- per call, 1 thread: ``delay()`` in a loop.
- per call, 8 threads: eight threads each calling ``delay()`` in a loop.
- per call, asyncio: 1,000 coroutines each awaiting one submission at a
  time (taskqueue: ``await task.adelay()``; Celery has no async API, so
  ``await asyncio.to_thread(task.delay)``, the usual way).
- bulk enqueue/s (taskqueue only: ``app.bulk()``, produce all and wait
  once; Celery has no bulk publish, its column repeats its 1-thread rate).
- end to end, 8 threads per call: from the first submit until every job's
  SUCCESS is visible in Redis, one worker process (threads pool,
  ``--concurrency``), already running and idle.
- end to end, bulk-submitted: the same with submissions in ``app.bulk()``
  blocks (taskqueue only; Celery submits per call).
- submit-to-start p50/p99: one job at a time on an idle worker.

Per-call phases publish to a queue no worker reads; the end-to-end phases
use the queue the worker serves. Isolated by a unique topic prefix / key
prefix / Mongo database; everything it creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskqueue.stores.state import StateStore

ROOT = Path(__file__).resolve().parent.parent
PHASE_TIMEOUT = 300.0
"""No phase of taskqueue or Celery + Redis may run longer than this (seconds)."""

CALLS_QUEUE = "calls"
"""The queue of the per-call and bulk phases: no worker reads it."""

THREADS = 8
ASYNC_CONCURRENCY = 1000


class PhaseIncomplete(Exception):
    """A phase ran out of time; the message says what was observed."""


@dataclass
class Phase:
    """One measured phase: its rate and, for per-call phases, each call's latency."""

    rate: float
    latencies: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


@dataclass
class System:
    """Every phase's runs of one system; a phase that failed keeps its note."""

    name: str
    runs: dict[str, list[Phase]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, phase: str, measured: Phase) -> None:
        self.runs.setdefault(phase, []).append(measured)

    def median(self, phase: str, figure: str) -> float | None:
        runs = self.runs.get(phase)
        if not runs:
            return None
        values = [r.rate if figure == "rate" else r.pct(float(figure)) for r in runs]
        return statistics.median(values)


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r  {label}: {done}/{total} ({rate:,.0f}/s)   ", end="", flush=True)


def wait_count(
    label: str,
    count: Callable[[], int],
    total: int,
    started: float,
    timeout: float = PHASE_TIMEOUT,
) -> float:
    """Wait until ``count() >= total``, printing progress; returns elapsed seconds."""
    last = 0.0
    while (done := count()) < total:
        if time.perf_counter() - started > timeout:
            print()
            raise PhaseIncomplete(f"{label}: only {done} of {total} after {timeout:.0f} s")
        if time.perf_counter() - last > 0.5:
            progress(label, done, total, started)
            last = time.perf_counter()
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    progress(label, total, total, started)
    print()
    return elapsed


# --- per-call phases (any system) ----------------------------------------------
def per_call_threads(
    label: str, submit: Callable[[], object], total: int, threads: int, timeout: float
) -> Phase:
    """``threads`` threads share ``total`` calls; each call's latency is kept."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[BaseException] = []
    each = total // threads

    def loop(mine: list[float]) -> None:
        clock = time.perf_counter
        try:
            for _ in range(each):
                t0 = clock()
                submit()
                mine.append(clock() - t0)
        except BaseException as exc:  # reported with the phase
            failures.append(exc)

    workers = [threading.Thread(target=loop, args=(mine,), daemon=True) for mine in latencies]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, timeout - (time.perf_counter() - started)))
    elapsed = time.perf_counter() - started
    done = sum(len(m) for m in latencies)
    if failures:
        raise PhaseIncomplete(f"{label}: {done} calls, then {failures[0]!r}")
    if any(w.is_alive() for w in workers):
        raise PhaseIncomplete(f"{label}: {done} of {each * threads} calls in {timeout:.0f} s")
    print(f"  {label}: {done:,} calls, {done / elapsed:,.0f}/s")
    return Phase(done / elapsed, [x for m in latencies for x in m])


def per_call_asyncio(
    label: str, submit: Callable[[], Awaitable[object]], total: int, concurrency: int
) -> Phase:
    """``concurrency`` coroutines, each awaiting one submission at a time."""
    latencies: list[float] = []
    each = total // concurrency

    async def one_client() -> None:
        clock = time.perf_counter
        for _ in range(each):
            t0 = clock()
            await submit()
            latencies.append(clock() - t0)

    async def all_clients() -> float:
        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(one_client() for _ in range(concurrency))), PHASE_TIMEOUT
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(all_clients())
    print(f"  {label}: {len(latencies):,} calls, {len(latencies) / elapsed:,.0f}/s")
    return Phase(len(latencies) / elapsed, latencies)


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


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure_latency(submit: Callable[[], Any], samples: int) -> list[float]:
    out = []
    started = time.perf_counter()
    for i in range(samples):
        t0 = time.time()
        started_at = submit().get(timeout=30)
        out.append(started_at - t0)
        if i % 50 == 0:
            progress("submit-to-start samples", i, samples, started)
        time.sleep(0.005)  # idle worker: no queue builds up
    progress("submit-to-start samples", samples, samples, started)
    print()
    return out


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


def bench_taskqueue(opts: argparse.Namespace, log_dir: Path) -> System:
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

    out = System("taskqueue")
    print(f"taskqueue: topics {run}.*, creating...", flush=True)
    app.declare_topics(["default", CALLS_QUEUE])
    try:
        call = lambda: noop.apply_async(queue=CALLS_QUEUE)  # noqa: E731 - delay() on that queue
        acall = lambda: noop.aapply_async(queue=CALLS_QUEUE)  # noqa: E731
        for _ in range(50):
            call()  # connect and fetch metadata outside the measurement
        with app.bulk():  # the same for the busy producer (docs/taskqueue.md, "Publishing")
            for _ in range(50):
                call()
        for i in range(opts.runs):
            print(f" run {i + 1}/{opts.runs}")
            out.add("1 thread", per_call_threads("per call, 1 thread", call, opts.calls, 1, 300))
            out.add(
                "8 threads",
                per_call_threads("per call, 8 threads", call, opts.calls * 2, THREADS, 300),
            )
            out.add(
                "asyncio",
                per_call_asyncio("per call, asyncio", acall, opts.async_calls, ASYNC_CONCURRENCY),
            )
            out.add("bulk", Phase(enqueue_bulk(app, noop, opts.enqueue)))
        worker = start_worker(
            worker_command(opts.concurrency),
            {**env, "TASKQUEUE_GROUP_ID": f"{run}.e2e"},
            "ready",
            log_dir / "taskqueue-worker.log",
        )
        try:
            for i in range(opts.runs):
                print(f" end to end, run {i + 1}/{opts.runs}")
                out.add("e2e per call", e2e_taskqueue_per_call(app, noop, opts.e2e))
                out.add("e2e bulk", e2e_taskqueue_bulk(app, noop, opts.e2e))
            out.add("idle", Phase(0.0, measure_latency(stamp.delay, opts.latency)))
        finally:
            stop_worker(worker)
    finally:
        delete_topics(app, run)
        app.result_store.drop()
        app.close()
    return out


def enqueue_bulk(app: Any, task: Any, total: int) -> float:
    started = time.perf_counter()
    step = 5000
    for chunk in range(0, total, step):
        with app.bulk():  # produce all, wait once for Kafka's acks
            for _ in range(min(step, total - chunk)):
                task.apply_async(queue=CALLS_QUEUE)
    rate = total / (time.perf_counter() - started)
    print(f"  bulk enqueue: {total:,} jobs, {rate:,.0f}/s")
    return rate


def e2e_taskqueue_per_call(app: Any, task: Any, total: int) -> Phase:
    ids: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        job_id = task.delay().id
        with lock:
            ids.append(job_id)

    started = time.perf_counter()
    per_call_threads("submitting (8 threads, per call)", submit, total, THREADS, PHASE_TIMEOUT)
    tracker = FinishedTracker(app.state, ids)
    elapsed = wait_count("end to end, per call", tracker.count, len(ids), started)
    return Phase(len(ids) / elapsed)


def e2e_taskqueue_bulk(app: Any, task: Any, total: int) -> Phase:
    started = time.perf_counter()
    ids: list[str] = []
    for chunk in range(0, total, 5000):
        with app.bulk():
            ids += [task.delay().id for _ in range(min(5000, total - chunk))]
    tracker = FinishedTracker(app.state, ids)
    elapsed = wait_count("end to end, bulk-submitted", tracker.count, total, started)
    return Phase(total / elapsed)


def delete_topics(app: Any, run: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": app.settings.broker_url.removeprefix("kafka://")})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{run}.")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


# --- celery ------------------------------------------------------------------------
def celery_worker_command(concurrency: int, app_spec: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app_spec,
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def celery_per_call(
    out: System, noop: Any, opts: argparse.Namespace, timeout: float, queue: str
) -> None:
    """The per-call phases of a Celery app (its ``noop`` task, sent to
    ``queue``, which no worker reads), each with ``timeout``."""
    call = lambda: noop.apply_async(queue=queue)  # noqa: E731
    acall = lambda: asyncio.to_thread(call)  # noqa: E731 - Celery has no async API
    phases: list[tuple[str, Callable[[], Phase]]] = [
        ("1 thread", lambda: per_call_threads("per call, 1 thread", call, opts.calls, 1, timeout)),
        (
            "8 threads",
            lambda: per_call_threads("per call, 8 threads", call, opts.calls * 2, THREADS, timeout),
        ),
        (
            "asyncio",
            lambda: per_call_asyncio(
                "per call, asyncio (to_thread)", acall, opts.async_calls, ASYNC_CONCURRENCY
            ),
        ),
    ]
    for i in range(opts.runs):
        print(f" run {i + 1}/{opts.runs}")
        for name, measure in phases:
            if name in out.notes:
                continue  # it did not complete once: no second wait for it
            try:
                out.add(name, measure())
            except (PhaseIncomplete, TimeoutError) as exc:
                out.notes[name] = str(exc) or f"{name}: no answer in {timeout:.0f} s"
                print(f"  {out.notes[name]}")


def celery_e2e_per_call(
    out: System, noop: Any, finished: Callable[[], int], total: int, timeout: float
) -> None:
    def submit() -> None:
        noop.delay()

    started = time.perf_counter()
    try:
        per_call_threads("submitting (8 threads, per call)", submit, total, THREADS, timeout)
        left = max(1.0, timeout - (time.perf_counter() - started))
        elapsed = wait_count("end to end, per call", finished, total, started, left)
        out.add("e2e per call", Phase(total / elapsed))
    except PhaseIncomplete as exc:
        out.notes["e2e per call"] = str(exc)
        print(f"  {exc}")


def bench_celery_redis(opts: argparse.Namespace, log_dir: Path) -> System:
    import redis  # Celery's own broker, the reference

    url = opts.celery_redis
    client = redis.Redis.from_url(url)
    client.flushdb()
    os.environ["BENCH_CELERY_REDIS"] = url
    from bench.bench_tasks import make_celery

    capp = make_celery()
    noop, stamp = capp.tasks["bench.celery.noop"], capp.tasks["bench.celery.stamp"]
    out = System("Celery + Redis")
    print(f"celery + redis: {url} (flushed)")
    celery_per_call(out, noop, opts, PHASE_TIMEOUT, CALLS_QUEUE)
    out.runs["bulk"] = out.runs.get("1 thread", [])  # no bulk API: per call
    client.flushdb()  # the end-to-end phases start from an empty queue
    worker = start_worker(
        celery_worker_command(opts.concurrency, "bench.bench_tasks:celery_app"),
        {"BENCH_CELERY": "1", "BENCH_CELERY_REDIS": url},
        "ready",
        log_dir / "celery-worker.log",
    )
    try:
        for i in range(opts.runs):
            print(f" end to end, run {i + 1}/{opts.runs}")
            client.delete(*client.keys("celery-task-meta-*") or ["-"])

            def finished() -> int:
                return sum(1 for _ in client.scan_iter("celery-task-meta-*", count=5000))

            celery_e2e_per_call(out, noop, finished, opts.e2e, PHASE_TIMEOUT)
        out.runs["e2e bulk"] = out.runs.get("e2e per call", [])  # no bulk API
        out.add("idle", Phase(0.0, measure_latency(stamp.delay, opts.latency)))
    finally:
        stop_worker(worker)
        client.flushdb()
    return out


def bench_celery_kafka(opts: argparse.Namespace, log_dir: Path) -> System:
    """Celery on kombu's confluentkafka transport; results in Redis db 15."""
    import redis

    queue = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        "BENCH_CELERY": "1",
        "BENCH_CELERY_BROKER": f"confluentkafka://{opts.kafka}",
        "BENCH_CELERY_REDIS": opts.celery_redis,
        "BENCH_CELERY_QUEUE": queue,
    }
    os.environ.update(env)
    from bench.bench_tasks import make_celery

    client = redis.Redis.from_url(opts.celery_redis)
    client.flushdb()
    out = System("Celery + kombu confluentkafka")
    print(
        f"celery + confluentkafka: {opts.kafka}, queue {queue}, timeout {opts.phase_timeout:.0f} s"
    )
    try:
        capp = make_celery()
        noop = capp.tasks["bench.celery.noop"]
        celery_per_call(out, noop, opts, opts.phase_timeout, f"{queue}.{CALLS_QUEUE}")
        try:
            worker = start_worker(
                celery_worker_command(opts.concurrency, "bench.bench_tasks:celery_app"),
                env,
                "ready",
                log_dir / "celery-kafka-worker.log",
            )
        except SystemExit as exc:
            out.notes["e2e per call"] = f"the worker did not start: {str(exc)[:300]}"
            return out
        try:
            for i in range(opts.runs):
                if "e2e per call" in out.notes:
                    break
                print(f" end to end, run {i + 1}/{opts.runs}")
                client.delete(*client.keys("celery-task-meta-*") or ["-"])

                def finished() -> int:
                    return sum(1 for _ in client.scan_iter("celery-task-meta-*", count=5000))

                celery_e2e_per_call(out, noop, finished, opts.e2e, opts.phase_timeout)
        finally:
            stop_worker(worker)
    finally:
        client.flushdb()
        delete_celery_topics(opts.kafka, queue)
    return out


def delete_celery_topics(bootstrap: str, queue: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(queue)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


# --- report ------------------------------------------------------------------------
ROWS: list[tuple[str, str, str, bool]] = [
    ("per call, 1 thread: calls/s", "1 thread", "rate", True),
    ("per call, 1 thread: p50 ms", "1 thread", "0.5", False),
    ("per call, 1 thread: p99 ms", "1 thread", "0.99", False),
    ("per call, 8 threads: calls/s", "8 threads", "rate", True),
    ("per call, 8 threads: p50 ms", "8 threads", "0.5", False),
    ("per call, 8 threads: p99 ms", "8 threads", "0.99", False),
    ("per call, asyncio x1000: calls/s", "asyncio", "rate", True),
    ("per call, asyncio x1000: p50 ms", "asyncio", "0.5", False),
    ("per call, asyncio x1000: p99 ms", "asyncio", "0.99", False),
    ("bulk enqueue/s (Celery: per call)", "bulk", "rate", True),
    ("end to end/s, 8 threads per call", "e2e per call", "rate", True),
    ("end to end/s, bulk (Celery: per call)", "e2e bulk", "rate", True),
    ("submit-to-start p50 ms, idle", "idle", "0.5", False),
    ("submit-to-start p99 ms, idle", "idle", "0.99", False),
]


def report(systems: list[System], runs: int) -> None:
    ours, others = systems[0], systems[1:]
    print(f"\nmedians of {runs} run(s)")
    header = f"{'figure':40} {ours.name:>12}"
    for other in others:
        header += f" {other.name[:22]:>22} {'ratio':>6}"
    print(header)
    for label, phase, figure, higher_better in ROWS:
        a = ours.median(phase, figure)
        line = f"{label:40} {_cell(a):>12}"
        for other in others:
            b = other.median(phase, figure)
            ratio = ""
            if a and b:
                ratio = f"{(a / b if higher_better else b / a):.1f}x"
            line += f" {_cell(b, other.notes.get(phase)):>22} {ratio:>6}"
        print(line)
    print("(ratio: how many times better taskqueue is; for latency, other/taskqueue)")
    for other in others:
        for phase, note in other.notes.items():
            print(f"{other.name}, {phase}: did not complete: {note}")


def _cell(value: float | None, note: str | None = None) -> str:
    if note is not None:
        return "incomplete"
    if value is None:
        return "-"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="figures are medians of these")
    parser.add_argument("--calls", type=int, default=4000, help="per-call, 1 thread (x2: 8)")
    parser.add_argument("--async-calls", type=int, default=10_000)
    parser.add_argument("--enqueue", type=int, default=50_000, help="bulk enqueue")
    parser.add_argument("--e2e", type=int, default=8000)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--celery-redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--kafka", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=120.0,
        help="seconds each Celery-on-Kafka phase may take",
    )
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--skip-celery-kafka", action="store_true")
    opts = parser.parse_args()
    log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))
    print(f"worker logs in {log_dir}; load before: {os.getloadavg()}")
    systems = [bench_taskqueue(opts, log_dir)]
    if not opts.skip_celery:
        systems.append(bench_celery_redis(opts, log_dir))
        if not opts.skip_celery_kafka:
            systems.append(bench_celery_kafka(opts, log_dir))
    report(systems, opts.runs)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
