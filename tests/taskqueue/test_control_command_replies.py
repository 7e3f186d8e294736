"""``app.control``'s worker commands and ``inspect().scheduled()``: Celery's
reply shapes, and the arguments refused before any worker is called.

Pure shaping logic: the answers are built here as the gRPC client returns
them; the calls themselves are exercised on live workers in
tests/compat/test_worker_control.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskqueue import TaskQueue
from taskqueue.control.client import Answer
from taskqueue.control.inspect import _scheduled
from taskqueue.control.proto import pb
from tests.taskqueue.conftest import memory_app

pytestmark = pytest.mark.fast


@pytest.fixture
def app(unique_name: str) -> Iterator[TaskQueue]:
    application = memory_app("replies", unique_name)
    yield application
    application.close()


def test_replies_are_celery_shaped_and_silent_workers_left_out(app: TaskQueue) -> None:
    answers = [
        Answer("w1", "127.0.0.1:1", reply=pb.ControlReply(ok="pool will grow")),
        Answer(
            "w2",
            "127.0.0.1:2",
            error="failed: INVALID_ARGUMENT ...",
            code="INVALID_ARGUMENT",
            details="pool_grow(n=-1): n must be a whole number of at least 1",
        ),
        Answer("w3", "127.0.0.1:3", error="unreachable: UNAVAILABLE", code="UNAVAILABLE"),
        Answer("w4", None, error="no control address in its heartbeat", code="NONE"),
    ]
    control = app.control
    assert control._broadcast(lambda client: answers, reply=True, timeout=1) == [
        {"w1": {"ok": "pool will grow"}},
        {"w2": {"error": "pool_grow(n=-1): n must be a whole number of at least 1"}},
    ]
    assert control._broadcast(lambda client: answers, reply=False, timeout=1) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.pool_grow("2"), r"pool_grow\(n='2'\): n must be a whole number"),
        (lambda c: c.pool_shrink(1.5), r"pool_shrink\(n=1.5\)"),
        (lambda c: c.autoscale(4, None), r"autoscale min\(n=None\)"),
        (lambda c: c.add_consumer("q", exchange="amq"), "exchange is AMQP routing"),
        (lambda c: c.add_consumer("q", routing_key="k"), "routing_key is AMQP routing"),
        (lambda c: c.add_consumer("q", exchange_type="topic"), "exchange_type is AMQP"),
    ],
)
def test_malformed_arguments_are_refused_before_calling(
    app: TaskQueue, call: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(app.control)  # type: ignore[operator]


def test_scheduled_jobs_take_celerys_shape() -> None:
    reply = pb.ScheduledReply(
        jobs=[
            pb.ScheduledJob(
                id="j1",
                task="t.add",
                eta=0.0,
                priority=-1,
                attempt=1,
                topic="tq.default",
                partition=2,
                offset=7,
            )
        ]
    )
    assert _scheduled(reply) == [
        {
            "eta": "1970-01-01T00:00:00+00:00",
            "priority": None,
            "request": {
                "id": "j1",
                "name": "t.add",
                "type": "t.add",
                "attempt": 1,
                "acknowledged": False,
                "delivery_info": {"topic": "tq.default", "partition": 2, "offset": 7},
            },
        }
    ]
