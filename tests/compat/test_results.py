"""Celery's results and exceptions (``AsyncResult.get``, ``info``, ``Reject``,
``Ignore``, ``MaxRetriesExceededError``, ``ignore_result``), with only
``celery`` replaced by ``taskqueue`` in the imports."""

from __future__ import annotations

from typing import Any

import pytest

from taskqueue import Task, TaskQueue, states
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
