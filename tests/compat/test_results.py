"""Celery's results and exceptions (``AsyncResult.get``, ``info``, ``Reject``,
``Ignore``, ``MaxRetriesExceededError``, ``ignore_result``), with only
``celery`` replaced by ``taskqueue`` in the imports."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from decimal import Decimal
from typing import Any

import pytest

from taskqueue import Task, TaskQueue, chord, group, states
from taskqueue.exceptions import (
    Ignore,
    MaxRetriesExceededError,
    Reject,
    TaskFailed,
)
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

pytestmark = pytest.mark.timeout(120)

T = 30
"""Seconds any single result may take."""


class InvalidOrder(Exception):
    """An error of the tasks' own module: rebuilt for the caller."""


class NeedsTwo(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")


@BOTH_STACKS
def test_get_reraises_the_tasks_own_exception_type(capp: TaskQueue, worker: Worker) -> None:
    @capp.task(max_retries=0)
    def divide(x: int, y: int) -> float:
        return x / y

    @capp.task(max_retries=0)
    def order(n: int) -> None:
        raise InvalidOrder(f"order {n} has no lines")

    @capp.task(max_retries=0)
    def odd() -> None:
        raise NeedsTwo(7, "not rebuildable from a message")

    with pytest.raises(ZeroDivisionError, match="division by zero") as zero:
        divide.delay(1, 0).get(timeout=T)
    assert isinstance(zero.value, TaskFailed), "old `except TaskFailed` still catches it"
    assert "ZeroDivisionError" in (zero.value.remote_traceback or "")

    result = order.delay(3)
    with pytest.raises(InvalidOrder) as own:
        result.get(timeout=T)
    assert own.value.args == ("order 3 has no lines",)
    assert isinstance(result.info, InvalidOrder), "info holds the exception"
    assert result.state == states.FAILURE

    with pytest.raises(TaskFailed) as fallback:
        odd.delay().get(timeout=T)
    assert type(fallback.value) is TaskFailed and fallback.value.exc_type == "NeedsTwo"


@BOTH_STACKS
def test_retry_past_max_retries_raises_max_retries_exceeded_error(
    capp: TaskQueue, worker: Worker
) -> None:
    @capp.task(bind=True, max_retries=1)
    def poll(self: Task) -> None:
        raise self.retry(countdown=0)

    result = poll.delay()
    with pytest.raises(MaxRetriesExceededError):
        result.get(timeout=T)
    assert result.retries == 1


@BOTH_STACKS
def test_ignore_keeps_the_state_the_task_stored(capp: TaskQueue, worker: Worker) -> None:
    # Celery's example: store the state yourself, then tell the worker to
    # record nothing.
    @capp.task(bind=True)
    def get_tweets(self: Task, user: str) -> None:
        timeline = [f"{user}: hello"]
        if not self.request.called_directly:
            self.update_state(state=states.SUCCESS, meta=timeline)
        raise Ignore()

    assert get_tweets.delay("ann").get(timeout=T) == ["ann: hello"]


@BOTH_STACKS
def test_reject_without_requeue_fails_and_dead_letters_the_message(
    capp: TaskQueue, worker: Worker, stack: str
) -> None:
    @capp.task(bind=True, acks_late=True)
    def render_scene(self: Task, path: str) -> None:
        raise Reject(f"cannot render {path}", requeue=False)

    result = render_scene.delay("/scenes/1")
    with pytest.raises(Reject, match="cannot render /scenes/1"):
        result.get(timeout=T)
    assert result.retries == 0, "never retried"
    if stack == "memory":
        return  # the dead-letter tools read Kafka
    # Sent before the final state is stored, so it is there once get() returned.
    (dead,) = capp.dead_letters().list(ids=[result.id])
    assert dead.reason == "rejected" and "cannot render" in dead.error


@BOTH_STACKS
def test_reject_with_requeue_runs_the_job_again(capp: TaskQueue, worker: Worker) -> None:
    @capp.task(bind=True)
    def picky(self: Task) -> int:
        if self.request.retries < 2:
            raise Reject("not on this worker", requeue=True)
        return self.request.retries

    assert picky.delay().get(timeout=T) == 2


@BOTH_STACKS
def test_ignore_result_stores_success_without_the_value(
    capp: TaskQueue, tasks: dict[str, Any], worker: Worker
) -> None:
    @capp.task(ignore_result=True)
    def big(x: int) -> int:
        return x * 10

    result = big.apply_async((4,), link=tasks["add"].s(1))
    assert result.get(timeout=T) is None and result.state == states.SUCCESS
    (callback,) = result.children or []
    assert callback.get(timeout=T) == 41, "a link still gets the value"


@pytest.mark.fast
def test_eager_results_raise_the_exception_itself(capp: TaskQueue) -> None:
    @capp.task(max_retries=0)
    def order(n: int) -> None:
        raise InvalidOrder(f"order {n}")

    result = order.apply((1,))
    assert isinstance(result.info, InvalidOrder) and result.failed()
    with pytest.raises(InvalidOrder):
        result.get()


WHEN = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
TYPED = {
    "at": WHEN,
    "day": WHEN.date(),
    "time": WHEN.time(),
    "amount": Decimal("1.10"),
    "id": uuid.UUID("6f1c6b4e-3c1a-4b5e-9d1e-2f0a1b2c3d4e"),
    "text": b"ok",
    "raw": b"\x00\xff",
}
"""A result of every type Celery's JSON serializer tags."""


@BOTH_STACKS
def test_a_result_of_dates_decimals_uuids_and_bytes_comes_back_with_its_types(
    capp: TaskQueue, worker: Worker
) -> None:
    @capp.task
    def typed() -> dict[str, Any]:
        return TYPED

    @capp.task
    def kinds(value: Any) -> list[str]:
        values = value if isinstance(value, list) else list(value.values())
        return sorted(type(v).__name__ for v in values)

    result = typed.delay()
    assert result.get(timeout=T) == TYPED
    assert result.result == TYPED and result.info == TYPED
    assert asyncio.run(typed.delay().aget(timeout=T)) == TYPED
    assert group(typed.s(), typed.s())().get(timeout=T) == [TYPED, TYPED]

    # Read back from the result store once the live state is gone.
    capp.state.forget(result.id)
    assert capp.AsyncResult(result.id).get(timeout=T) == TYPED

    names = sorted(type(v).__name__ for v in TYPED.values())
    linked = typed.apply_async(link=kinds.s())
    linked.get(timeout=T)
    (callback,) = linked.children or []
    assert callback.get(timeout=T) == names, "a link gets the values, typed"
    both = chord([typed.s(), typed.s()])(kinds.s())
    assert both.get(timeout=T) == ["dict", "dict"]


@pytest.mark.fast
def test_a_stored_result_keeps_celerys_json_tags(capp: TaskQueue, worker: Worker) -> None:
    """What the web UI and GraphQL show: the document holds JSON, typed
    values tagged as Celery's JSON serializer tags them."""

    @capp.task
    def when(day: datetime.date) -> dict[str, Any]:
        return {"at": WHEN, "amount": Decimal("2.50")}

    result = when.delay(WHEN.date())
    result.get(timeout=T)
    doc = capp.result_store.get(result.id) or {}
    assert doc["result"] == {
        "at": {"__type__": "datetime", "__value__": "2024-05-01T12:00:00+00:00"},
        "amount": {"__type__": "decimal", "__value__": "2.50"},
    }
    assert doc["args"] == [{"__type__": "date", "__value__": "2024-05-01"}]
    assert when.apply((WHEN.date(),)).get()["amount"] == Decimal("2.50"), "eager: as returned"


@BOTH_STACKS
def test_a_result_json_cannot_hold_still_fails_its_job(capp: TaskQueue, worker: Worker) -> None:
    @capp.task
    def opaque() -> object:
        return object()

    with pytest.raises(TypeError, match="not JSON-serializable"):
        opaque.delay().get(timeout=T)
