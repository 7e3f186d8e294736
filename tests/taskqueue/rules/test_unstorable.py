"""Results the store refuses and follow-ups Kafka refuses cost their own
job, never the worker: each such job ends SUCCESS with its value kept, or
FAILURE, or dead-lettered with a reason; the next job runs and the worker
acks everything (on both stacks, see conftest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.exceptions import TaskFailed

from .conftest import RunningWorker, read_topic, state_of, wait_for

pytestmark = pytest.mark.timeout(180)

HUGE = 5_000_000
"""Characters of an oversized result: over the default ``result_max_bytes``."""


@pytest.fixture
def tasks(rapp: TaskQueue) -> TaskQueue:
    @rapp.task(name="unstorable.value")
    def value(kind: str) -> Any:
        if kind == "wide-int":
            return 2**64
        if kind == "keys":
            return {"$set": 1, "a.b": {"$inc": [2]}}
        if kind == "huge":
            return "x" * HUGE
        raise ValueError(kind)

    @rapp.task(name="unstorable.shout")
    def shout(size: int) -> None:
        raise RuntimeError("!" * size)

    return rapp


def header(record: object, name: str) -> str:
    return dict(record.headers).get(name, b"").decode()  # type: ignore[attr-defined]


def settled(w: RunningWorker) -> bool:
    """Nothing in flight and nothing waiting to be acked."""
    loop = w.worker.loop
    return loop is not None and not loop.jobs and not loop.ledger.busy


def next_job_runs(app: TaskQueue, w: RunningWorker) -> None:
    assert app.tasks["rules.add"].delay(20, 22).get(timeout=60) == 42
    wait_for(lambda: settled(w), timeout=60, what="the worker to ack everything")


def test_an_integer_over_64_bits_is_kept(
    tasks: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """MongoDB refuses it; JSON holds it: the value comes back exact."""
    with worker() as w:
        assert tasks.tasks["unstorable.value"].delay("wide-int").get(timeout=60) == 2**64
        next_job_runs(tasks, w)


def test_keys_the_server_refuses_are_kept(
    tasks: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker() as w:
        result = tasks.tasks["unstorable.value"].delay("keys")
        assert result.get(timeout=60) == {"$set": 1, "a.b": {"$inc": [2]}}
        next_job_runs(tasks, w)


def test_an_oversized_result_fails_its_job_naming_the_cap(
    tasks: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker() as w:
        result = tasks.tasks["unstorable.value"].delay("huge")
        with pytest.raises(TaskFailed) as failed:
            result.get(timeout=60)
        assert failed.value.exc_type == "ResultTooLarge"
        assert "result_max_bytes" in failed.value.message
        next_job_runs(tasks, w)
    assert state_of(tasks, result.id) == "FAILURE"
    [dead] = read_topic(tasks, tasks.settings.dead_letter_topic("default"), 1)
    assert dead.key == result.id.encode()
    assert "ResultTooLarge" in header(dead, "tq-dead-error")


def test_an_error_over_its_cap_is_cut_with_a_marker(
    tasks: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    with worker() as w:
        result = tasks.tasks["unstorable.shout"].delay(50_000)
        with pytest.raises(TaskFailed) as failed:
            result.get(timeout=60)
        next_job_runs(tasks, w)
    message = failed.value.message
    assert len(message) <= tasks.settings.error_max_chars
    assert "characters cut" in message
    assert len(failed.value.remote_traceback or "") <= tasks.settings.traceback_max_chars


def test_a_link_to_a_queue_without_a_topic_dead_letters_the_job(
    tasks: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """Kafka answers "unknown topic" (after its metadata wait, about 30 s):
    the job's record goes to its dead-letter topic with the reason, and is
    acked; it is never resent forever."""
    add = tasks.tasks["rules.add"]
    nowhere = add.s(1).set(queue="nowhere")
    with worker() as w:
        result = add.apply_async((1, 2), link=[nowhere])
        assert result.get(timeout=60) == 3
        [dead] = read_topic(tasks, tasks.settings.dead_letter_topic("default"), 1, timeout=90)
        next_job_runs(tasks, w)
    assert dead.key == result.id.encode()
    assert header(dead, "tq-dead-reason") == "follow-up-failed"
    assert tasks.settings.topic("nowhere") in header(dead, "tq-dead-error")
