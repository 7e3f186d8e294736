"""Many publishers at once on real Kafka, Redis and a real worker: every
publish is acknowledged (its handle carries Kafka's partition and offset)
and every job runs. The waiting rules themselves are tested in memory in
test_publish_handles.py and test_async_api.py."""

from __future__ import annotations

import asyncio
import threading

import pytest

from taskqueue import AsyncResult, PublishError, TaskQueue

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
