"""Result lookups as results pile up: id hits, id misses and upserts.

    python -m bench.results [--total 1000000] [--samples 3000] [--url MONGO_URL]

Inserts ``--total`` result documents through the project's result store,
in batches of ``result_flush_size`` as a worker flushes them, and at 10k,
100k and 1M documents (those up to ``--total``) times ``--samples`` of each:

- get (hit): ``ResultStore.get`` of a stored id (``AsyncResult.get``,
  the redelivery check, admin).
- get (miss): ``ResultStore.get`` of an id never stored (a job still
  running: what every redelivery check of an unfinished job asks).
- upsert (redelivered): ``ResultStore.write`` of a redelivered copy's
  document whose id is stored: the conditional upsert that keeps the
  final result.

Ids are random-looking UUIDs, like the worker's, so the index sees the same
spread as in production. Uses its own Mongo database, dropped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from taskqueue.config import Settings
from taskqueue.message import Message
from taskqueue.states import SUCCESS
from taskqueue.stores.result_documents import attempt_entry, outcome_document
from taskqueue.stores.results import ResultStore, create_result_store
from taskqueue.worker.execute import Outcome

CHECKPOINTS = (10_000, 100_000, 1_000_000)
"""Sizes at which lookups are timed (and ``--total`` itself)."""


def job_id(index: int, salt: bytes = b"stored") -> str:
    """A UUID derived from ``index``: any stored id can be drawn again without
    keeping a million strings; another ``salt`` gives ids never stored."""
    digest = hashlib.blake2b(index.to_bytes(8, "big"), digest_size=16, key=salt).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def document(index: int, *, redelivered: bool = False) -> dict[str, Any]:
    """The document a no-op job's SUCCESS stores (``redelivered``: by a
    copy of the job delivered again, as after a worker's crash)."""
    now = time.time()
    message = Message(id=job_id(index), task="bench.results.noop", args=(index,))
    outcome = Outcome(state=SUCCESS, result={"value": index}, started_at=now, finished_at=now)
    attempt = attempt_entry(
        outcome,
        worker="bench@results",
        received_at=now,
        redelivered=redelivered,
        partition=index % 6,
        offset=index,
    )
    return outcome_document(message, outcome, worker="bench@results", attempt=attempt)


def fill(store: ResultStore, start: int, stop: int, batch: int) -> None:
    """Insert documents ``start``..``stop`` in worker-sized batches, with progress."""
    began = time.perf_counter()
    for low in range(start, stop, batch):
        high = min(low + batch, stop)
        store.write([document(i) for i in range(low, high)])
        if (high // batch) % 20 == 0 or high == stop:
            rate = (high - start) / max(time.perf_counter() - began, 1e-9)
            print(f"\r  inserting: {high:,}/{stop:,} ({rate:,.0f} docs/s)   ", end="", flush=True)
    print()


def timed(samples: int, operation: Callable[[int], object]) -> list[float]:
    """Milliseconds of ``operation(i)`` for ``i`` in ``range(samples)``."""
    times = []
    for i in range(samples):
        began = time.perf_counter()
        operation(i)
        times.append((time.perf_counter() - began) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    store: ResultStore, stored: int, samples: int, rng: random.Random
) -> dict[str, list[float]]:
    hits = [rng.randrange(stored) for _ in range(samples)]
    misses = [rng.randrange(1 << 62) for _ in range(samples)]
    again = [rng.randrange(stored) for _ in range(samples)]
    figures = {
        "get (hit)": timed(samples, lambda i: _found(store, job_id(hits[i]))),
        "get (miss)": timed(samples, lambda i: _absent(store, job_id(misses[i], b"missing"))),
        "upsert (redelivered)": timed(
            samples, lambda i: store.write([document(again[i], redelivered=True)])
        ),
    }
    return figures


def _found(store: ResultStore, key: str) -> None:
    if store.get(key) is None:
        raise SystemExit(f"stored id {key} not found: the benchmark's data is wrong")


def _absent(store: ResultStore, key: str) -> None:
    if store.get(key) is not None:
        raise SystemExit(f"id {key} was never stored but was found")


def report(rows: list[tuple[int, str, list[float]]]) -> None:
    print()
    print(f"{'documents':>10}  {'operation':24} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for size, name, times in rows:
        print(
            f"{size:>10,}  {name:24} {percentile(times, 0.50):8.2f} "
            f"{percentile(times, 0.99):8.2f} {statistics.fmean(times):8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=3000, help="per operation and size")
    parser.add_argument("--url", default=None, help="Mongo URL (default: the local stack's)")
    parser.add_argument("--seed", type=int, default=12)
    opts = parser.parse_args()
    if opts.url is None:
        # Imported only here: with --url the benchmark needs no project settings.
        from config.environment import Environment

        opts.url = Environment.from_env().mongo_url
    database = f"bench_results_{uuid.uuid4().hex[:8]}"
    batch = Settings().result_flush_size
    sizes = sorted({s for s in CHECKPOINTS if s < opts.total} | {opts.total})
    store = create_result_store(opts.url, database)
    print(f"result store at {opts.url}, database {database}; batches of {batch}", flush=True)
    rng = random.Random(opts.seed)
    rows: list[tuple[int, str, list[float]]] = []
    stored = 0
    try:
        for size in sizes:
            fill(store, stored, size, batch)
            stored = size
            print(
                f"  timing {opts.samples} of each operation at {size:,} documents ...", flush=True
            )
            for name, times in measure(store, stored, opts.samples, rng).items():
                rows.append((size, name, times))
                print(
                    f"    {name:24} p50 {percentile(times, 0.5):.2f} ms, "
                    f"p99 {percentile(times, 0.99):.2f} ms",
                    flush=True,
                )
    finally:
        print(f"dropping database {database} ...", flush=True)
        store.drop()
        store.close()
    report(rows)


if __name__ == "__main__":
    sys.exit(main())
