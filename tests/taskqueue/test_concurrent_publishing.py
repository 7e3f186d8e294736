"""Many publishers at once on real Kafka, Redis and a real worker: every
publish is acknowledged (its handle carries Kafka's partition and offset)
and every job runs. The waiting rules themselves are tested in memory in
test_publish_handles.py and test_async_api.py."""

from __future__ import annotations

import asyncio
import threading

import pytest

from taskqueue import AsyncResult, PublishError, TaskQueue
from taskqueue.transport.base import AUTO, BUSY, PROMPT
from taskqueue.transport.kafka import BUSY_IN_FLIGHT

from .conftest import Workers
from .tasks_app import register

pytestmark = pytest.mark.timeout(180)


def test_publishers_in_eight_threads_are_all_acknowledged_and_run(
    app: TaskQueue, workers: Workers
) -> None:
    add = app.tasks["t.add"]
    results: list[AsyncResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def publish(thread: int) -> None:
        try:
            mine = [add.delay(thread, i) for i in range(50)]
        except BaseException as exc:  # surfaced below with the thread's failure
            errors.append(exc)
            return
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len({r.id for r in results}) == 400
    workers.start()
    expected = sorted(t + i for t in range(8) for i in range(50))
    assert sorted(r.get(timeout=120) for r in results) == expected


def test_two_hundred_concurrent_async_submissions_are_acknowledged_and_run(
    app: TaskQueue, workers: Workers
) -> None:
    add = app.tasks["t.add"]
    workers.start()

    async def submit_and_wait() -> list[int]:
        results = await asyncio.gather(*(add.adelay(i, 1) for i in range(200)))
        assert len({r.id for r in results}) == 200
        return await asyncio.gather(*(r.aget(timeout=120) for r in results))

    assert sorted(asyncio.run(submit_and_wait())) == [i + 1 for i in range(200)]


def test_bulk_and_single_publishes_share_the_producer(app: TaskQueue) -> None:
    # A bulk wait in one thread and single publishes in others resolve
    # independently: each waits for its own handles only.
    add = app.tasks["t.add"]
    singles: list[AsyncResult] = []

    def single() -> None:
        singles.extend(add.delay(0, i) for i in range(20))

    thread = threading.Thread(target=single)
    thread.start()
    with app.bulk() as pending:
        for i in range(500):
            add.delay(1, i)
    thread.join()
    assert len(pending) == 500 and all(h.done and h.offset is not None for _, h in pending)
    assert len(singles) == 20


def test_an_async_publish_kafka_refuses_raises(tq_env: dict[str, str]) -> None:
    # A short publish_timeout: librdkafka reports a missing topic when it expires.
    app = TaskQueue("tests", env={**tq_env, "TASKQUEUE_PUBLISH_TIMEOUT": "2"})
    register(app)
    try:
        with pytest.raises(PublishError, match="never-declared"):
            asyncio.run(app.tasks["t.add"].aapply_async((1, 2), queue="never-declared"))
    finally:
        app.close()


def test_records_of_one_key_keep_their_order_in_each_lane(app: TaskQueue) -> None:
    # The prompt producer and the busy one (bulk()) each keep one key's
    # records in the order they were sent, without waiting in between.
    topic = app.settings.topic("default")
    send = app.transport.send
    for lane in (PROMPT, BUSY):
        handles = [
            send(topic, f"{lane}-{i}".encode(), f"key-{lane}".encode(), None, lane)
            for i in range(BUSY_IN_FLIGHT * 4)
        ]
        app.transport.wait(handles, 30)
        offsets = [h.offset for h in handles]
        assert len({h.partition for h in handles}) == 1, lane
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), lane


def test_a_burst_that_crosses_the_busy_threshold_is_all_acknowledged(app: TaskQueue) -> None:
    # AUTO moves from the prompt producer to the busy one mid-burst. Order
    # across the two is not promised (a single call waits for its ack
    # before the next, so its caller's order holds); every record lands.
    topic = app.settings.topic("default")
    handles = [
        app.transport.send(topic, f"auto-{i}".encode(), b"key-auto", None, AUTO)
        for i in range(BUSY_IN_FLIGHT * 4)
    ]
    app.transport.wait(handles, 30)
    assert all(h.done and h.error is None and h.offset is not None for h in handles)
    assert len({(h.partition, h.offset) for h in handles}) == len(handles)


def test_a_thousand_concurrent_async_submissions_are_acknowledged_and_run_once(
    app: TaskQueue, workers: Workers
) -> None:
    # 1,000 coroutines put far more than BUSY_IN_FLIGHT records in flight,
    # so most take the busy producer, which lingers: each call still returns
    # only once Kafka acknowledged its record, and each job runs once.
    add = app.tasks["t.add"]

    async def submit() -> list[AsyncResult]:
        return await asyncio.gather(*(add.adelay(i, 0) for i in range(1000)))

    results = asyncio.run(submit())
    assert len({r.id for r in results}) == 1000
    workers.start()
    assert sorted(r.get(timeout=120) for r in results) == list(range(1000))
