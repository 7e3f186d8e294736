"""Celery's "Calling Tasks" guide (serializers, priority, publish retry,
shadow) and ``Task.retry`` examples, with only ``celery`` replaced by
``taskqueue`` in the imports."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest

from taskqueue import Task, TaskQueue
from taskqueue.exceptions import PublishError
from taskqueue.message import Message
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

pytestmark = pytest.mark.timeout(120)

T = 30
"""Seconds any single result may take."""

TYPED_ARGS = (
    dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    dt.date(2024, 5, 1),
    dt.time(12, 30, 15),
    Decimal("10.10"),
    uuid.UUID("6f1c5b1e-8a47-4d1e-9a55-0a7c1d2e3f40"),
    b"raw \x00\xff bytes",
)
"""The types Celery's JSON serializer extends JSON with."""


@BOTH_STACKS
@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_arguments_keep_their_types_with_either_serializer(
    capp: TaskQueue, worker: Worker, serializer: str
) -> None:
    @capp.task(name="tasks.echo_types")
    def echo_types(*args: Any) -> list[str]:
        return [f"{type(a).__name__}:{a!r}" for a in args]

    # Celery: add.apply_async((10, 10), serializer='json')
    result = echo_types.apply_async(TYPED_ARGS, serializer=serializer)
    assert result.get(timeout=T) == [f"{type(a).__name__}:{a!r}" for a in TYPED_ARGS]


@pytest.mark.fast
def test_the_wire_format_is_tagged_json_by_default_and_msgpack_on_request(
    capp: TaskQueue, tasks: dict[str, Any]
) -> None:
    with capp.bulk() as sent:
        tasks["add"].apply_async((Decimal("1.5"), b"\x01"))
        tasks["add"].apply_async((1, 2), serializer="msgpack")
    by_json, by_msgpack = capp.transport.records(capp.settings.topic("default"))[-2:]  # type: ignore[attr-defined]
    assert b'{"__type__":"decimal","__value__":"1.5"}' in by_json.value
    assert dict(by_msgpack.headers or [])["content-type"] == b"application/x-msgpack"
    assert Message.decode(by_msgpack.value).serializer == "msgpack"
    assert [m.id for m, _ in sent] == [Message.decode(r.value).id for r in (by_json, by_msgpack)]
    with pytest.raises(ValueError, match="pickle and yaml are never accepted"):
        tasks["add"].apply_async((1, 2), serializer="pickle")


@pytest.mark.fast
def test_a_task_serializer_setting_applies_to_every_call(
    capp: TaskQueue, tasks: dict[str, Any]
) -> None:
    capp.conf.task_serializer = "msgpack"
    with capp.bulk() as sent:
        tasks["add"].delay(2, 2)
    assert sent[0][0].serializer == "msgpack"


@pytest.mark.fast
def test_priority_picks_a_queue_by_weight(capp: TaskQueue, tasks: dict[str, Any]) -> None:
    add = tasks["add"]
    capp.declare_topics(["high", "default", "low", "pinned"])
    with capp.bulk() as sent:
        add.apply_async((2, 2), priority=9)
        add.apply_async((2, 2), priority=5)
        add.apply_async((2, 2), priority=0)
        add.apply_async((2, 2), priority=9, queue="pinned")
    assert [m.queue for m, _ in sent] == ["high", "default", "low", "pinned"]
    with pytest.raises(ValueError, match="0 \\(lowest\\) to 9"):
        add.apply_async((2, 2), priority=10)


@BOTH_STACKS
def test_a_high_priority_job_runs_from_the_high_queue(capp: TaskQueue) -> None:
    @capp.task(name="tasks.queue_of", bind=True)
    def queue_of(self: Task) -> str:
        return str(self.request.queue)

    capp.declare_topics(["high"])
    high = Worker(capp, queues=["high"], concurrency=1, name="priority-worker")
    ready = threading.Event()
    thread = threading.Thread(target=high.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    try:
        assert ready.wait(60)
        assert queue_of.apply_async(priority=8).get(timeout=T) == "high"
    finally:
        high.stop()
        thread.join(60)


@pytest.mark.fast
def test_retry_resends_an_unconfirmed_publish_under_the_policy(
    capp: TaskQueue, tasks: dict[str, Any]
) -> None:
    transport = capp.transport
    # Celery: add.apply_async((2, 2), retry=True, retry_policy={...})
    transport.lose_acks(2)  # type: ignore[attr-defined]
    result = tasks["add"].apply_async(
        (2, 2),
        retry=True,
        retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.01,
            "interval_max": 0.02,
        },
    )
    records = transport.records(capp.settings.topic("default"))  # type: ignore[attr-defined]
    copies = [r for r in records if Message.decode(r.value).id == result.id]
    assert len(copies) == 3, "the same job (same id) sent again until confirmed"

    transport.lose_acks(1)  # type: ignore[attr-defined]
    with pytest.raises(PublishError, match="outcome unknown"):
        tasks["add"].apply_async((2, 2), retry=True, retry_policy={"max_retries": 0})
    transport.lose_acks(1)  # type: ignore[attr-defined]
    with pytest.raises(PublishError):
        tasks["add"].apply_async((2, 2)), "off by default (task_publish_retry)"


@BOTH_STACKS
def test_shadow_names_the_job_in_its_request(capp: TaskQueue, worker: Worker) -> None:
    @capp.task(name="tasks.shadowed", bind=True)
    def shadowed(self: Task) -> list[Any]:
        return [self.request.shadow, self.request.task]

    result = shadowed.apply_async(shadow="fetch EURUSD")
    assert result.get(timeout=T) == ["fetch EURUSD", "tasks.shadowed"]


@BOTH_STACKS
def test_self_retry_with_new_arguments_and_an_eta(capp: TaskQueue, worker: Worker) -> None:
    @capp.task(name="tasks.countdown", bind=True, max_retries=3)
    def countdown(self: Task, n: int, step: int = 1) -> list[Any]:
        if n > 0:
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=100)
            raise self.retry(args=(n - step,), kwargs={"step": step}, eta=soon)
        return [n, self.request.retries]

    assert countdown.delay(2).get(timeout=T) == [0, 2]


@BOTH_STACKS
def test_self_retry_without_throw_ends_the_attempt_as_a_retry(
    capp: TaskQueue, worker: Worker
) -> None:
    @capp.task(name="tasks.soft_retry", bind=True, max_retries=1, default_retry_delay=0)
    def soft_retry(self: Task) -> str:
        if self.request.retries == 0:
            self.retry(countdown=0, throw=False)
            return "dropped: the attempt ends RETRY"
        return f"attempt {self.request.retries}"

    assert soft_retry.delay().get(timeout=T) == "attempt 1"


@pytest.mark.fast
def test_default_retry_delay_is_celerys_three_minutes(capp: TaskQueue) -> None:
    @capp.task
    def plain() -> None: ...

    @capp.task(bind=True, default_retry_delay=30 * 60)  # retry in 30 minutes
    def add(self: Task, x: int, y: int) -> int:
        return x + y

    assert (plain.default_retry_delay, add.default_retry_delay) == (180.0, 1800)


@pytest.mark.fast
def test_eager_retry_passes_the_new_arguments(capp: TaskQueue) -> None:
    @capp.task(bind=True, max_retries=2)
    def halve(self: Task, n: int) -> int:
        if n > 1:
            raise self.retry(args=(n // 2,), countdown=0)
        return self.request.retries

    assert halve.apply((4,)).get() == 2
