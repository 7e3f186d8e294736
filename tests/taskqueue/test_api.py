"""Round trips of the public API through real Kafka, Redis, Mongo and a
real worker process."""

from __future__ import annotations

import json
import time

import pytest

from taskqueue import (
    AsyncResult,
    MessageTooLarge,
    PublishError,
    State,
    TaskFailed,
    TaskQueue,
    TimeoutError,
)

from .conftest import Workers, wait_for

pytestmark = pytest.mark.timeout(120)


def test_delay_and_get_round_trip(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    result = app.tasks["t.add"].delay(2, 3)
    assert isinstance(result, AsyncResult)
    assert result.get(timeout=60) == 5
    assert result.state == State.SUCCESS and result.ready() and result.successful()
    assert not result.failed() and result.traceback is None


def test_apply_async_options_and_arguments_stay_apart(app: TaskQueue, workers: Workers) -> None:
    workers.start(queues="default,high")
    r = app.tasks["t.request"].apply_async(
        kwargs={"queue": "argument", "countdown": 7},
        task_id="my-id-1",
        queue="high",
        routing_key="customer-42",
        headers={"trace": "abc"},
    )
    info = r.get(timeout=60)
    assert r.id == "my-id-1"
    assert info["id"] == "my-id-1" and info["queue"] == "high"
    assert info["arg_queue"] == "argument" and info["arg_countdown"] == 7
    assert info["delivery"]["topic"] == app.settings.topic("high")
    assert info["root_id"] == "my-id-1" and info["redelivered"] is False


def test_send_task_by_name(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    publisher = TaskQueue("publisher", env={}, **_same_settings(app))  # knows no tasks
    try:
        assert publisher.send_task("t.add", (20, 22)).get(timeout=60) == 42
    finally:
        publisher.close()


def test_failure_propagates_with_traceback(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    r = app.tasks["t.fail"].delay("bad input")
    with pytest.raises(TaskFailed, match="ValueError: bad input") as info:
        r.get(timeout=60)
    assert "raise ValueError(message)" in (info.value.remote_traceback or "")
    assert r.state == State.FAILURE and r.failed()
    assert r.get(timeout=1, propagate=False) == {
        "exc_type": "ValueError",
        "exc_message": "bad input",
    }
    assert "ValueError" in (r.traceback or "")


def test_result_document_in_mongo(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    ok, bad = app.tasks["t.add"].delay(1, 1), app.tasks["t.fail"].delay("x")
    ok.get(timeout=60)
    bad.get(timeout=60, propagate=False)
    wait_for(lambda: app.result_store.get(bad.id) is not None, 10)
    doc = app.result_store.get(ok.id)
    assert doc is not None
    assert (doc["state"], doc["result"], doc["final"], doc["task"]) == ("SUCCESS", 2, True, "t.add")
    assert doc["attempts"]["0"]["runtime"] >= 0
    failed = app.result_store.get(bad.id)
    assert failed is not None
    assert failed["error"]["exc_type"] == "ValueError" and "ValueError" in failed["traceback"]


def test_every_state_change_is_published(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    pubsub = app.state_backend.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(app.state_backend.events_channel)
    pubsub.get_message(timeout=1)
    r = app.tasks["t.progress"].delay(3)
    assert r.get(timeout=60) == 3
    events = []
    while (item := pubsub.get_message(timeout=1)) is not None:
        event = json.loads(item["data"])
        if event["id"] == r.id:
            events.append(event)
    pubsub.close()
    assert [e["state"] for e in events] == [
        "RECEIVED",
        "STARTED",
        "PROGRESS",
        "PROGRESS",
        "PROGRESS",
        "SUCCESS",
    ]
    assert events[3]["payload"]["message"] == "step 2"
    # Mongo holds the result before Redis shows the final state.
    assert (app.result_store.get(r.id) or {})["state"] == "SUCCESS"


def test_progress_meta_while_running(app: TaskQueue) -> None:
    task = app.tasks["t.progress"]
    from taskqueue.task import Request, RequestContext

    with RequestContext(Request(id="p-1", task=task.name)):
        task.progress(1, 4, "first")
    r = app.AsyncResult("p-1")
    assert r.state == State.PROGRESS
    assert r.info == {"current": 1, "total": 4, "percent": 25.0, "message": "first"}
    with pytest.raises(TimeoutError):
        r.get(timeout=0.3)


def test_retry_runs_again_until_success(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    r = app.tasks["t.flaky"].delay(2)
    assert r.get(timeout=60) == 2
    assert r.retries == 2
    wait_for(lambda: len((app.result_store.get(r.id) or {}).get("attempts", {})) == 3, 10)


def test_forget_deletes_state_and_result(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    r = app.tasks["t.add"].delay(1, 2)
    r.get(timeout=60)
    wait_for(lambda: app.result_store.get(r.id) is not None, 10)
    app.AsyncResult(r.id).forget()
    assert app.AsyncResult(r.id).state == State.PENDING


def test_bulk_publishes_many_and_waits_once(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    with app.bulk() as pending:
        results = [app.tasks["t.add"].delay(i, i) for i in range(200)]
        assert len(pending) == 200
    assert all(h.done and h.error is None for _, h in pending)
    assert [r.get(timeout=60) for r in results] == [2 * i for i in range(200)]


def test_link_callback_receives_result(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    r = app.tasks["t.add"].apply_async((2, 2), link=[app.tasks["t.chained"].s(10)])
    assert r.get(timeout=60) == 4
    # The callback's id is new; find it through its Mongo document.
    coll = app.result_store.collection
    wait_for(lambda: coll.find_one({"parent_id": r.id, "state": "SUCCESS"}) is not None, 30)
    assert coll.find_one({"parent_id": r.id})["result"] == 14


def test_countdown_delays_execution(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    sent = time.time()
    r = app.tasks["t.request"].apply_async(countdown=1)
    r.get(timeout=60)
    doc = app.result_store.get(r.id) or {}
    wait_for(lambda: bool(app.result_store.get(r.id)), 10)
    doc = app.result_store.get(r.id) or {}
    assert doc["attempts"]["0"]["started_at"] >= sent + 1


def test_message_too_large_fails_before_sending(app: TaskQueue) -> None:
    with pytest.raises(MessageTooLarge):
        app.tasks["t.add"].delay("x" * (app.settings.max_message_bytes + 1), 1)


def test_publish_to_missing_topic_fails_clearly(app: TaskQueue) -> None:
    quick = TaskQueue("quick", env={}, **{**_same_settings(app), "publish_timeout": 2.0})
    try:
        with pytest.raises(PublishError, match="outcome unknown.*does the topic exist"):
            quick.send_task("t.add", (1, 2), queue="no-such-queue")
    finally:
        quick.close()


def _same_settings(app: TaskQueue) -> dict:
    s = app.settings
    return {
        name: getattr(s, name)
        for name in (
            "broker_url",
            "redis_url",
            "mongo_url",
            "result_database",
            "topic_prefix",
            "key_prefix",
        )
    }


def test_a_duplicate_state_write_is_neither_stored_nor_published(app: TaskQueue) -> None:
    """The loop and the task may both report STARTED; subscribers see it once."""
    from taskqueue.stores.state import APPLIED, OUTRANKED, StateUpdate

    backend = app.state_backend
    pubsub = backend.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(backend.events_channel)
    pubsub.get_message(timeout=1)
    started = StateUpdate("dup-job", "STARTED", 0, task="t.noop", worker="w1")
    codes = [c[0] for c in backend.write_batch([started, started])]
    progress = StateUpdate("dup-job", "PROGRESS", 0, payload={"current": 1})
    codes += [c[0] for c in backend.write_batch([progress, progress])]
    assert codes == [APPLIED, OUTRANKED, APPLIED, APPLIED]
    states = []
    while (item := pubsub.get_message(timeout=1)) is not None:
        states.append(json.loads(item["data"])["state"])
    pubsub.close()
    assert states == ["STARTED", "PROGRESS", "PROGRESS"]
