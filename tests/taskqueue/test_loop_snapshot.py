"""What other threads see of the poll loop: its snapshot and rebalance listeners.

The loop runs here turn by turn on the in-memory transport and stores, so
each test controls exactly when the loop works and when a body may finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from taskqueue import State, TaskQueue
from taskqueue.worker.consumer import PollLoop
from taskqueue.worker.events import new_event_queue
from taskqueue.worker.pool import ThreadPool
from taskqueue.worker.snapshot import TopicPartition

pytestmark = pytest.mark.fast

WAIT = 20.0
"""Upper bound for anything a test waits for (never a timing assertion)."""


class Recorder:
    """A rebalance listener that writes down what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[TopicPartition]]] = []

    def on_assigned(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("assigned", list(tps)))

    def on_revoked(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("revoked", list(tps)))


class Broken:
    def on_assigned(self, tps: list[TopicPartition]) -> None:
        raise RuntimeError("listener bug")

    def on_revoked(self, tps: list[TopicPartition]) -> None:
        raise RuntimeError("listener bug")


class Harness:
    def __init__(self, app: TaskQueue, concurrency: int) -> None:
        self.app = app
        self.pool = ThreadPool(app, concurrency, new_event_queue())
        self.loop = PollLoop(app, self.pool, "w-snapshot", ["default"])
        self.topic = app.settings.topic("default")

    def connect(self) -> None:
        loop = self.loop
        loop.consumer = self.app.transport.consumer(
            [self.topic], "g-snapshot", 100, loop.on_assign, loop.on_revoke
        )

    def turn_until(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.loop.turn()


@pytest.fixture
def gates() -> dict[str, threading.Event]:
    return {}


@pytest.fixture
def ran() -> list[str]:
    return []


@pytest.fixture
def app(unique_name: str, gates: dict[str, threading.Event], ran: list[str]) -> Iterator[TaskQueue]:
    application = TaskQueue(
        "snapshot",
        broker_url="memory://",
        redis_url="memory://",
        mongo_url="memory://",
        key_prefix=unique_name,
        topic_prefix=f"{unique_name}.",
        partitions=1,
        control_enabled=False,
        shutdown_grace=2,
    )

    @application.task(name="s.gated")
    def gated(tag: str) -> str:
        ran.append(tag)
        gates.setdefault(tag, threading.Event()).wait(WAIT)
        return tag

    application.declare_topics(["default"])
    yield application
    for gate in gates.values():
        gate.set()
    application.close()


@pytest.fixture
def harness(app: TaskQueue) -> Iterator[Harness]:
    h = Harness(app, concurrency=1)
    yield h
    h.pool.shutdown(wait=False, cancel=True)


def test_snapshot_shows_jobs_in_the_pool_and_stays_as_it_was_read(
    app: TaskQueue, harness: Harness, gates: dict[str, threading.Event]
) -> None:
    harness.connect()
    gate = gates["a"] = threading.Event()
    result = app.send_task("s.gated", args=["a"])

    harness.turn_until(lambda: bool(harness.loop.snapshot.active), "the job to reach the pool")
    during = harness.loop.snapshot
    [job] = during.active
    assert (job.id, job.task, job.attempt) == (result.id, "s.gated", 0)
    assert (job.topic, job.partition, job.offset) == (harness.topic, 0, 0)
    assert during.processed == 0 and during.active_ids() == {result.id}

    gate.set()
    harness.turn_until(lambda: result.state == State.SUCCESS, "the job to succeed")
    after = harness.loop.snapshot
    assert after.active == () and after.processed == 1
    # A reader's copy is never changed under it: the loop replaced it.
    assert during.active_ids() == {result.id} and during.processed == 0


def test_snapshot_says_when_the_loop_is_stopping(harness: Harness) -> None:
    harness.connect()
    harness.loop.turn()
    assert harness.loop.snapshot.stopping is False
    harness.loop.stopping = True
    harness.loop.turn()
    assert harness.loop.snapshot.stopping is True


def test_listeners_hear_assignment_and_revocation_and_a_broken_one_stops_nothing(
    harness: Harness,
) -> None:
    recorder = Recorder()
    harness.loop.add_rebalance_listener(Broken())
    harness.loop.add_rebalance_listener(recorder)
    harness.connect()
    tps = [(harness.topic, 0)]
    assert recorder.calls == [("assigned", tps)]

    harness.loop.on_revoke(tps)

    assert recorder.calls == [("assigned", tps), ("revoked", tps)]


def test_revoke_cancels_a_job_that_has_not_started_and_releases_the_running_one(
    app: TaskQueue, harness: Harness, gates: dict[str, threading.Event], ran: list[str]
) -> None:
    harness.connect()
    gates["first"], gates["second"] = threading.Event(), threading.Event()
    first = app.send_task("s.gated", args=["first"])
    second = app.send_task("s.gated", args=["second"])
    # One thread: the first body runs, the second waits in the pool's queue.
    harness.turn_until(
        lambda: len(harness.loop.snapshot.active) == 2 and first.state == State.STARTED,
        "both jobs in the pool, the first one started",
    )

    harness.loop.cold = True  # do not wait for the running body
    harness.loop.on_revoke([(harness.topic, 0)])

    assert harness.loop.snapshot.active_ids() == {first.id}
    [running] = harness.loop.jobs
    assert running.message.id == first.id and running.released
    gates["second"].set()
    gates["first"].set()
    harness.turn_until(lambda: first.state == State.SUCCESS, "the released job to end")
    after = harness.loop.snapshot
    assert after.active == () and after.processed == 1
    # The cancelled one never ran here: the partition's next owner runs it.
    assert ran == ["first"] and second.state != State.STARTED
