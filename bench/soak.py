"""Soak: does a worker's memory stay flat as jobs go through it?

    python -m bench.soak [--jobs 200000] [--round 10000] [--concurrency 4]

One worker process (threads pool) runs ``--jobs`` no-op jobs, submitted in
rounds of ``--round`` (bulk publish, then wait until the round is final),
and the worker's resident memory (``VmRSS``) is read after each round. It
prints the RSS after the first round and after the last, a few readings in
between, and the growth from first to last: every structure that grows
with jobs processed (time-limit watchdog, revocation copy, in-flight
registry, ledger, offset windows) must be bounded, so the two stay within
10% of each other. A reading follows the most jobs the worker ever held at
once (Python does not give freed arenas back while one object in them
lives), so a bound that is reached late shows as a rise that levels off,
a leak as a slope.

Uses the local stack (``deploy/local/stack up``), isolated by a unique topic
prefix, key prefix and Mongo database, all removed at the end. Every wait
is bounded (``bench.throughput.PHASE_TIMEOUT``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from bench.throughput import (
    FinishedTracker,
    delete_topics,
    enqueue_taskqueue,
    start_worker,
    stop_worker,
    wait_count,
    worker_command,
)


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for pid {pid}")


def milestones(samples: list[tuple[int, float]], points: int = 5) -> list[tuple[int, float]]:
    """The first and last samples and a few evenly spaced between them: a
    bound filled slowly shows as a rise that levels off, a leak as a slope."""
    if len(samples) <= points:
        return samples
    last = samples[-1][0]
    picked = [samples[0]]
    for k in range(1, points):
        target = last * k / (points - 1)
        nearest = min(samples, key=lambda s: abs(s[0] - target))
        if nearest not in picked:
            picked.append(nearest)
    return picked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--round", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    opts = parser.parse_args(argv)
    if opts.jobs < opts.round or opts.round < 1:
        parser.error("--jobs must be at least --round, and --round at least 1")

    run = f"soak{uuid.uuid4().hex[:8]}"
    env = {
        "TASKQUEUE_TOPIC_PREFIX": f"{run}.",
        "TASKQUEUE_KEY_PREFIX": run,
        "TASKQUEUE_RESULT_DATABASE": run,
        "TASKQUEUE_STATE_TTL": "600",  # the run's Redis state expires soon after
    }
    os.environ.update(env)  # the app below and the worker read the same settings
    from bench.bench_tasks import app, noop

    log = Path(tempfile.mkdtemp(prefix="taskqueue-soak-")) / "worker.log"
    print(f"soak: {opts.jobs:,} no-op jobs in rounds of {opts.round:,}; worker log {log}")
    app.declare_topics(["default"])
    samples: list[tuple[int, float]] = []
    try:
        worker = start_worker(
            worker_command(opts.concurrency),
            env,
            "ready",
            log,
        )
        try:
            done = 0
            started = time.perf_counter()
            while done < opts.jobs:
                size = min(opts.round, opts.jobs - done)
                _, ids = enqueue_taskqueue(app, noop, size)
                tracker = FinishedTracker(app.state, ids)
                wait_count(
                    f"jobs {done + 1:,}-{done + size:,}", tracker.count, size, time.perf_counter()
                )
                done += size
                samples.append((done, rss_mib(worker.pid)))
                print(f"  after {done:,} jobs: worker RSS {samples[-1][1]:.1f} MiB", flush=True)
            elapsed = time.perf_counter() - started
        finally:
            stop_worker(worker)
    finally:
        delete_topics(app, run)
        app.result_store.drop()
        app.close()

    (first_n, first), (last_n, last) = samples[0], samples[-1]
    print()
    print(f"{'jobs':>10}  {'worker RSS (MiB)':>18}")
    for n, rss in milestones(samples):
        print(f"{n:>10,}  {rss:>18.1f}")
    print(f"growth {100 * (last - first) / first:+.1f}% over {last_n - first_n:,} jobs")
    print(f"({opts.jobs / elapsed:,.0f} jobs/s including submission, one worker process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
