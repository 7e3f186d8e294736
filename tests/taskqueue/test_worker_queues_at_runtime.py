"""Celery's add_consumer/cancel_consumer and remote shutdown on a running
worker (in-memory transport and stores; the same on Kafka is in
tests/compat/test_worker_control.py).

Commands go through the control plane's adapter, as the gRPC service calls
them: into the poll loop's mailbox, run in the loop's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from taskqueue import State, TaskQueue
from taskqueue.control.plane import WorkerAdapter
from taskqueue.worker.mailbox import BadArgument, CommandRefused
from taskqueue.worker.main import Worker
from tests.taskqueue.conftest import memory_app, wait_for

pytestmark = [pytest.mark.fast, pytest.mark.timeout(60)]


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def app(unique_name: str, gate: threading.Event) -> Iterator[TaskQueue]:
    application = memory_app("queues", unique_name, control_enabled=False)

    @application.task(name="q.echo")
    def echo(value: str) -> str:
        return value

    @application.task(name="q.gated")
    def gated(value: str) -> str:
        gate.wait(30)
        return value

    application.declare_topics(["default", "extra"])
    yield application
    gate.set()
    application.close()


@pytest.fixture
def worker(app: TaskQueue) -> Iterator[Worker]:
    running = Worker(app, queues=["default"], concurrency=2, name="w-queues")
    ready = threading.Event()
    thread = threading.Thread(target=running.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield running
    running.stop()
    thread.join(30)


def _committed(app: TaskQueue, queue: str) -> int:
    group = f"{app.settings.topic_prefix}workers.{queue}"
    positions = app.transport.group_positions.get(group, {})  # type: ignore[attr-defined]
    return sum(positions.values())


def test_added_queue_is_consumed_and_listed(app: TaskQueue, worker: Worker) -> None:
    control = WorkerAdapter(worker)
    waiting = app.send_task("q.echo", ("from extra",), queue="extra")
    assert control.add_consumer("extra") == "add consumer extra"
    assert waiting.get(timeout=20) == "from extra"
    wait_for(lambda: control.queues == ["default", "extra"], 10)
    assert worker.groups[app.settings.topic("extra")] == f"{app.settings.topic_prefix}workers.extra"
    assert control.add_consumer("extra") == "already consuming from extra"


def test_cancelled_queue_finishes_its_jobs_then_leaves(
    app: TaskQueue, worker: Worker, gate: threading.Event
) -> None:
    control = WorkerAdapter(worker)
    control.add_consumer("extra")
    running = app.send_task("q.gated", ("in flight",), queue="extra")
    wait_for(lambda: app.AsyncResult(running.id).state == State.STARTED.value, 20)

    assert control.cancel_consumer("extra") == "no longer consuming from extra"
    assert control.queues == ["default"] or wait_for(lambda: control.queues == ["default"], 10)
    later = app.send_task("q.echo", ("after cancel",), queue="extra")
    assert app.send_task("q.echo", ("default",)).get(timeout=20) == "default"
    assert app.AsyncResult(later.id).state == State.PENDING.value, "nothing new is fetched"

    gate.set()
    assert running.get(timeout=20) == "in flight", "the in-flight job finishes"
    assert worker.loop is not None and worker.loop.consumer is not None
    consumer = worker.loop.consumer
    wait_for(lambda: app.settings.topic("extra") not in consumer.topics, 20)  # type: ignore[attr-defined]
    assert _committed(app, "extra") == 1, "its offset is committed before the group is left"
    assert app.AsyncResult(later.id).state == State.PENDING.value

    control.add_consumer("extra")  # joins again from the committed position
    assert later.get(timeout=20) == "after cancel"


@pytest.mark.parametrize(
    ("queue", "error", "message"),
    [
        ("nope", CommandRefused, "not consuming from queue 'nope' \\(consuming: default\\)"),
        ("default", CommandRefused, "'default' is the only queue this worker consumes"),
        ("bad name!", BadArgument, "queue name 'bad name!' is not valid"),
        ("", BadArgument, "queue name '' is not valid"),
    ],
)
def test_bad_cancel_is_refused_and_the_worker_goes_on(
    app: TaskQueue, worker: Worker, queue: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        WorkerAdapter(worker).cancel_consumer(queue)
    assert app.send_task("q.echo", ("alive",)).get(timeout=20) == "alive"


def test_pool_commands_reach_the_running_pool(app: TaskQueue, worker: Worker) -> None:
    control = WorkerAdapter(worker)
    assert control.pool_grow(3) == "pool will grow"
    wait_for(lambda: control.concurrency == 5, 10)
    with pytest.raises(BadArgument, match=r"pool_shrink\(n=-1\)"):
        control.pool_shrink(-1)
    assert control.pool_shrink(4) == "pool will shrink"
    wait_for(lambda: control.concurrency == 1, 10)
    assert app.send_task("q.echo", ("one thread",)).get(timeout=20) == "one thread"


def test_remote_shutdown_is_warm(app: TaskQueue, worker: Worker, gate: threading.Event) -> None:
    control = WorkerAdapter(worker)
    running = app.send_task("q.gated", ("finish me",))
    wait_for(lambda: app.AsyncResult(running.id).state == State.STARTED.value, 20)
    assert control.shutdown("test") == "shutting down"
    with pytest.raises(CommandRefused, match="shutting down"):
        wait_for(lambda: worker.loop is not None and worker.loop.stopping, 10)
        control.pool_grow(1)
    gate.set()
    assert running.get(timeout=20) == "finish me", "in-flight work finishes, as on SIGTERM"
    assert not worker.stopped_cold


def test_shared_group_id_refuses_queue_changes(app: TaskQueue) -> None:
    shared = Worker(app, queues=["default", "extra"], group_id="legacy", name="w-shared")
    ready = threading.Event()
    thread = threading.Thread(target=shared.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    try:
        assert ready.wait(30)
        control = WorkerAdapter(shared)
        with pytest.raises(CommandRefused, match=r"add_consumer\('other'\).*group_id is set"):
            control.add_consumer("other")
        with pytest.raises(CommandRefused, match=r"cancel_consumer\('extra'\).*group_id"):
            control.cancel_consumer("extra")
        assert control.queues == ["default", "extra"]
    finally:
        shared.stop()
        thread.join(30)
