"""Weighted queue priorities and idempotent submission, on real services."""

from __future__ import annotations

import pytest

from taskqueue import TaskQueue
from taskqueue.policies.priority import WeightedQueues

from .conftest import Workers, wait_for
from .policy_app import APP

pytestmark = pytest.mark.timeout(180)


def order(app: TaskQueue) -> list[str]:
    raw = app.state_backend.client.lrange(f"{app.settings.key_prefix}:runs:order", 0, -1)
    return [x.decode() for x in raw]  # type: ignore[union-attr]


def test_flood_of_low_jobs_does_not_starve_high_ones(papp: TaskQueue, workers: Workers) -> None:
    worker = workers.start("-A", APP, queues="high,low", concurrency=2)
    wait_for(lambda: "partitions assigned" in worker.output(), 60)
    queued = papp.tasks["p.queued"]
    with papp.bulk():
        lows = [queued.apply_async((f"low{i}", 0.02), queue="low") for i in range(200)]
    wait_for(lambda: len(order(papp)) >= 4, 60)  # the flood is being worked on
    highs = [queued.apply_async((f"high{i}", 0.02), queue="high") for i in range(5)]
    for r in highs:
        r.get(timeout=90)
    done = order(papp)
    last_high = max(done.index(f"high{i}") for i in range(5))
    lows_before = sum(1 for tag in done[:last_high] if tag.startswith("low"))
    # Without weights the 5 high jobs would queue behind the whole flood.
    assert lows_before < 100, f"{lows_before} low jobs ran before the last high one"
    for r in lows:
        r.get(timeout=120)
    assert len(order(papp)) == 205


def test_weighted_round_robin_follows_the_weights() -> None:
    held = WeightedQueues(["high", "default", "low"], {"high": 6, "default": 3, "low": 1}, 100)
    for q in ("high", "default", "low"):
        for i in range(20):
            held.push(q, f"{q}{i}")  # type: ignore[arg-type]
    first_ten = [str(held.pop())[:-1].rstrip("0123456789") for _ in range(10)]
    assert first_ten.count("high") == 6 and first_ten.count("default") == 3
    assert first_ten.count("low") == 1


def test_same_idempotency_key_returns_the_first_job(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    record = papp.tasks["p.record"]
    first = record.apply_async(("once",), idempotency_key="order-42")
    again = record.apply_async(("twice",), idempotency_key="order-42")
    other = record.apply_async(("other",), idempotency_key="order-43")
    assert again.id == first.id and other.id != first.id
    assert again.get(timeout=60) == "once"
    assert other.get(timeout=60) == "other"
    key = f"{papp.settings.key_prefix}:runs:once"
    assert papp.state_backend.client.llen(key) == 1
    assert papp.state_backend.client.llen(f"{papp.settings.key_prefix}:runs:twice") == 0
