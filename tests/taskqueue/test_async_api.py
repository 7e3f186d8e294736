"""The asyncio API on the in-memory twins: ``adelay``, ``aapply_async``,
``asend_task`` and ``AsyncResult.aget`` (the same calls on real Kafka and
Redis are in test_concurrent_publishing.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from taskqueue import AsyncResult, PublishError, TaskQueue, TimeoutError
from taskqueue.message import Message
from taskqueue.stores.state import StateUpdate

from .conftest import memory_app

pytestmark = pytest.mark.fast


@pytest.fixture
def mapp(unique_name: str) -> TaskQueue:
    app = memory_app("async", unique_name)

    @app.task(name="a.add")
    def add(x: int, y: int) -> int:
        return x + y

    app.declare_topics(["default", "high"])
    return app


def published(app: TaskQueue, queue: str = "default") -> list[Message]:
    return [
        Message.decode(d.value or b"") for d in app.transport.records(app.settings.topic(queue))
    ]  # type: ignore[attr-defined]


def test_adelay_publishes_one_message_with_the_arguments(mapp: TaskQueue) -> None:
    result = asyncio.run(mapp.tasks["a.add"].adelay(2, y=3))
    assert isinstance(result, AsyncResult)
    [message] = published(mapp)
    assert (message.id, message.task, message.args, message.kwargs) == (
        result.id,
        "a.add",
        (2,),
        {"y": 3},
    )


def test_aapply_async_takes_the_options_of_apply_async(mapp: TaskQueue) -> None:
    add = mapp.tasks["a.add"]
    result = asyncio.run(add.aapply_async((1, 1), task_id="job-1", queue="high"))
    assert result.id == "job-1"
    assert [m.id for m in published(mapp, "high")] == ["job-1"]
    assert published(mapp) == []


def test_many_concurrent_submissions_are_all_published(mapp: TaskQueue) -> None:
    add = mapp.tasks["a.add"]

    async def submit_all() -> list[AsyncResult]:
        return await asyncio.gather(*(add.adelay(i, i) for i in range(200)))

    ids = {r.id for r in asyncio.run(submit_all())}
    assert len(ids) == 200 and {m.id for m in published(mapp)} == ids


def test_a_refused_publish_raises_from_the_await(mapp: TaskQueue) -> None:
    add = mapp.tasks["a.add"]
    with pytest.raises(PublishError, match="NOT accepted|unknown topic"):
        asyncio.run(add.aapply_async((1, 2), queue="undeclared"))


def test_asend_task_queues_a_task_known_only_by_name(mapp: TaskQueue) -> None:
    result = asyncio.run(mapp.asend_task("elsewhere.task", args=[1], queue="high"))
    [message] = published(mapp, "high")
    assert (message.id, message.task, message.args) == (result.id, "elsewhere.task", (1,))


def test_an_idempotency_key_submits_once(mapp: TaskQueue) -> None:
    add = mapp.tasks["a.add"]

    async def twice() -> tuple[AsyncResult, AsyncResult]:
        first = await add.aapply_async((1, 2), idempotency_key="k")
        return first, await add.aapply_async((1, 2), idempotency_key="k")

    first, second = asyncio.run(twice())
    assert first.id == second.id and len(published(mapp)) == 1


def test_aget_wakes_when_the_job_finishes_elsewhere(mapp: TaskQueue) -> None:
    result = asyncio.run(mapp.tasks["a.add"].adelay(20, 22))

    async def wait_and_finish() -> object:
        getting = asyncio.ensure_future(result.aget(timeout=30))
        while not mapp.result_waiter._waiting:  # the coroutine waits on the subscription
            await asyncio.sleep(0.01)
        update = StateUpdate(result.id, "SUCCESS", 0, task="a.add", payload=42)
        threading.Thread(target=mapp.state.write, args=(update,)).start()
        return await getting

    assert asyncio.run(wait_and_finish()) == 42


def test_aget_gives_up_at_its_timeout(mapp: TaskQueue) -> None:
    result = asyncio.run(mapp.tasks["a.add"].adelay(1, 1))
    with pytest.raises(TimeoutError, match="not finished"):
        asyncio.run(result.aget(timeout=0.05))


def test_aget_raises_the_failure_like_get(mapp: TaskQueue) -> None:
    error = {"exc_type": "ValueError", "exc_message": "bad"}
    mapp.state.write(StateUpdate("failed-job", "FAILURE", 0, task="a.add", payload=error))
    with pytest.raises(Exception, match="bad"):
        asyncio.run(mapp.AsyncResult("failed-job").aget(timeout=5))
    assert asyncio.run(mapp.AsyncResult("failed-job").aget(propagate=False)) == error
