"""Celery's "Signals" guide, example by example, with only ``celery``
replaced by ``taskqueue`` in the imports."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from taskqueue import Task, TaskQueue
from taskqueue.signals import (
    Signal,
    after_task_publish,
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_received,
    task_retry,
    task_revoked,
    task_success,
    worker_init,
    worker_ready,
    worker_shutdown,
)
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

pytestmark = pytest.mark.timeout(120)

T = 30
"""Seconds any single result may take."""


class Received(list[tuple[str, Any]]):
    """What receivers connected through :meth:`listen` saw, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.connected: list[tuple[Signal, Any, Any]] = []

    def listen(self, signal: Signal, sender: Any = None, pick: Any = None) -> None:
        def receiver(sender: Any = None, **kwargs: Any) -> None:
            self.append((signal.name, pick(sender, kwargs) if pick else sender))

        signal.connect(receiver, sender=sender)
        self.connected.append((signal, receiver, sender))


@pytest.fixture
def received() -> Iterator[Received]:
    seen = Received()
    yield seen
    for signal, receiver, sender in seen.connected:
        assert signal.disconnect(receiver, sender=sender)


def _run_worker(app: TaskQueue) -> tuple[Worker, threading.Thread]:
    worker = Worker(app, concurrency=2, name="signals-worker")
    ready = threading.Event()
    thread = threading.Thread(target=worker.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(60), "worker did not start"
    return worker, thread


# --- the Signal class ----------------------------------------------------------------


@pytest.mark.fast
def test_connect_by_decorator_with_and_without_a_sender() -> None:
    signal = Signal("custom")
    seen = []

    @signal.connect
    def every(sender: Any = None, **kwargs: Any) -> str:
        seen.append(("every", sender, kwargs["value"]))
        return "ok"

    @signal.connect(sender="proj.tasks.add")
    def only_add(sender: Any = None, **kwargs: Any) -> None:
        seen.append(("only_add", sender, kwargs["value"]))

    responses = signal.send(sender="proj.tasks.mul", value=1)
    signal.send(sender="proj.tasks.add", value=2)
    assert responses == [(every, "ok")]
    assert seen == [
        ("every", "proj.tasks.mul", 1),
        ("every", "proj.tasks.add", 2),
        ("only_add", "proj.tasks.add", 2),
    ]
    assert signal.disconnect(every) and not signal.disconnect(every)
    assert signal.disconnect(only_add, sender="proj.tasks.add")
    assert signal.send(sender="proj.tasks.add", value=3) == []


@pytest.mark.fast
def test_a_receiver_that_raises_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal("custom")
    seen = []

    @signal.connect
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    @signal.connect(dispatch_uid="once")
    def fine(**kwargs: Any) -> None:
        seen.append("fine")

    signal.connect(fine, dispatch_uid="once")  # connected once, not twice
    with caplog.at_level(logging.ERROR, logger="taskqueue.signals"):
        responses = signal.send(sender=None)
    assert seen == ["fine"]
    assert isinstance(responses[0][1], RuntimeError)
    assert "receiver bug" in caplog.text


@pytest.mark.fast
def test_a_task_sender_matches_its_task_only(capp: TaskQueue, tasks: dict[str, Any]) -> None:
    add, mul = tasks["add"], tasks["mul"]
    seen = []
    receiver = task_success.connect(
        lambda sender=None, result=None, **kw: seen.append(result), sender=add
    )
    try:
        assert add.apply((2, 2)).get() == 4 and mul.apply((3, 3)).get() == 9
    finally:
        task_success.disconnect(receiver, sender=add)
    assert seen == [4]


# --- signals of a real worker ------------------------------------------------------------


@BOTH_STACKS
def test_task_signals_fire_around_each_run(
    capp: TaskQueue, tasks: dict[str, Any], received: Received, worker: Worker
) -> None:
    @capp.task(bind=True, max_retries=1)
    def once_more(self: Task) -> str:
        if self.request.retries == 0:
            raise self.retry(countdown=0)
        return "done"

    listen = received.listen
    listen(task_prerun, once_more, lambda s, kw: kw["task_id"])
    listen(task_retry, once_more, lambda s, kw: kw["request"].id)
    listen(task_success, once_more, lambda s, kw: kw["result"])
    listen(task_postrun, once_more, lambda s, kw: (kw["task_id"], str(kw["state"])))
    listen(task_failure, tasks["fail"], lambda s, kw: (kw["task_id"], str(kw["exception"])))
    listen(task_received, None, lambda s, kw: kw["request"].task)

    job = once_more.delay()
    assert job.get(timeout=T) == "done"
    failed = tasks["fail"].delay("boom")
    failed.get(timeout=T, propagate=False)
    names = [e for e in received if e[0] != "task_received"]
    assert names == [
        ("task_prerun", job.id),
        ("task_retry", job.id),
        ("task_postrun", (job.id, "RETRY")),
        ("task_prerun", job.id),
        ("task_success", "done"),
        ("task_postrun", (job.id, "SUCCESS")),
        ("task_failure", (failed.id, "boom")),
    ]
    arrivals = [e[1] for e in received if e[0] == "task_received"]
    assert arrivals.count(once_more.name) == 2 and "tasks.fail" in arrivals


@BOTH_STACKS
def test_publish_signals_see_celerys_headers_and_may_add_headers(
    capp: TaskQueue, received: Received, worker: Worker
) -> None:
    @capp.task(bind=True)
    def show(self: Task) -> Any:
        return self.request.headers.get("x-tenant")

    def tag(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        headers["x-tenant"] = "acme"

    before_task_publish.connect(tag, sender=show.name)
    try:
        received.listen(after_task_publish, show.name, lambda s, kw: (s, kw["headers"]["id"]))
        job = show.delay()
        assert job.get(timeout=T) == "acme"
    finally:
        before_task_publish.disconnect(tag, sender=show.name)
    assert received == [("after_task_publish", (show.name, job.id))]


@BOTH_STACKS
def test_an_expired_job_sends_task_revoked(
    capp: TaskQueue, tasks: dict[str, Any], received: Received, worker: Worker
) -> None:
    add = tasks["add"]
    received.listen(task_revoked, add, lambda s, kw: (kw["request"].id, kw["expired"]))
    late = add.apply_async((1, 2), countdown=0.6, expires=0.3)
    assert late.get(timeout=T, propagate=False) == {"exc_type": "Expired", "exc_message": "expired"}
    assert received == [("task_revoked", (late.id, True))]


@BOTH_STACKS
def test_worker_signals_fire_at_start_ready_and_shutdown(
    capp: TaskQueue, tasks: dict[str, Any], received: Received
) -> None:
    for signal in (worker_init, worker_ready, worker_shutdown):
        received.listen(signal, None, lambda s, kw: s.name)
    worker, thread = _run_worker(capp)
    assert received == [("worker_init", worker.name), ("worker_ready", worker.name)]
    worker.stop()
    thread.join(60)
    assert received[-1] == ("worker_shutdown", worker.name)
