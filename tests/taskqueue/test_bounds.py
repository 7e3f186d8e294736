"""What grows with jobs processed stays bounded: no services needed.

A worker runs for weeks; any structure that keeps one entry per job (or per
revocation, or per abandoned body) long after it matters is a slow leak.
The time-limit watchdog's heap is covered in ``test_pools``; the in-flight
registry of a running worker in ``rules/test_bounds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from taskqueue import TaskQueue
from taskqueue.delays import TierConsumer, route
from taskqueue.policies.revoke import PRUNE_ABOVE, Revocations
from taskqueue.stores.state import RevocationNotice
from taskqueue.worker.threads import TaskThreads

from .conftest import memory_app

pytestmark = pytest.mark.fast

WAIT = 20.0
"""Upper bound for anything a test waits for (never a timing assertion)."""


@pytest.fixture
def mapp(unique_name: str) -> Iterator[TaskQueue]:
    app = memory_app(
        "bounds",
        unique_name,
        partitions=1,
        delay_tiers="60",
        consume_batch_size=50,
        revoke_ttl=100,
        control_enabled=False,
    )
    yield app
    app.close()


def test_the_workers_revocation_copy_drops_expired_ids(mapp: TaskQueue) -> None:
    now = [1_000_000.0]
    copy = Revocations(mapp, clock=lambda: now[0])
    for i in range(20 * PRUNE_ABOVE):
        copy._apply(RevocationNotice(f"j{i}", False))
        now[0] += 1.0  # revoke_ttl is 100 s: about 100 ids are live at any time
    assert len(copy) <= 2 * PRUNE_ABOVE
    # Pruning drops only what expired: recent revocations still hold.
    last = 20 * PRUNE_ABOVE - 1
    assert copy.is_revoked(f"j{last}") and copy.is_revoked(f"j{last - 50}")
    assert not copy.is_revoked("j0")


def test_a_revocation_burst_is_kept_whole_while_it_is_live(mapp: TaskQueue) -> None:
    """The bound follows live revocations: none is dropped before it expires."""
    copy = Revocations(mapp, clock=lambda: 1_000_000.0)
    for i in range(3 * PRUNE_ABOVE):
        copy._apply(RevocationNotice(f"j{i}", False))
    assert len(copy) == 3 * PRUNE_ABOVE
    assert all(copy.is_revoked(f"j{i}") for i in range(3 * PRUNE_ABOVE))


def test_abandoned_threads_leave_nothing_once_their_bodies_return() -> None:
    pool = TaskThreads(2, name="test-bounds")
    try:
        gate = threading.Event()
        started = threading.Semaphore(0)

        def stuck() -> str:
            started.release()
            gate.wait(WAIT)
            return "late"

        for _ in range(10):
            future = pool.submit(stuck)
            assert started.acquire(timeout=WAIT)
            assert pool.abandon(future, "given up")
        assert pool.abandoned == 10 and pool.threads == 2
        gate.set()
        deadline = time.monotonic() + WAIT
        while pool.abandoned and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.abandoned == 0
        assert pool.threads == 2
        assert pool.submit(lambda: "ok").result(timeout=WAIT) == "ok"
    finally:
        pool.shutdown(wait=False, cancel=True)


def test_a_delay_tier_holds_at_most_one_batch_of_records_not_due(mapp: TaskQueue) -> None:
    """Records due in an hour sit in a 60 s tier; its consumer must not read
    the whole topic into memory while it waits for the head."""
    s = mapp.settings
    dest = s.topic("default")
    mapp.declare_topics(["default"])
    for _ in range(20 * s.consume_batch_size):
        topic, headers = route(s, dest, time.time() + 3600, [])
        mapp.transport.send(topic, b"{}", None, headers)
    stop = threading.Event()
    stop.set()  # an idle turn returns at once instead of waiting for the head
    tier = TierConsumer(mapp, 60.0, stop)
    consumer = mapp.transport.consumer([tier.topic], tier.group, s.max_in_flight_per_partition)
    try:
        for _ in range(40):
            tier.turn(consumer)
        held = sum(len(h) for h in tier._held.values())
        assert 0 < held <= s.consume_batch_size
        tp = (tier.topic, 0)
        assert consumer.offsets.window(tp) <= s.consume_batch_size
        assert tier.forwarded == 0
    finally:
        consumer.close()
