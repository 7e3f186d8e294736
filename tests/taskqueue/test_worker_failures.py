"""At-least-once under failure: killed workers, warm shutdown, poison
messages, redelivery and out-of-order completion, on real services."""

from __future__ import annotations

import signal
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from taskqueue import State, TaskQueue

from .conftest import Workers, wait_for

pytestmark = pytest.mark.timeout(180)


def runs(app: TaskQueue, tag: str) -> int:
    return app.state_backend.client.llen(f"{app.settings.key_prefix}:runs:{tag}")


def group_id(app: TaskQueue, queues: str = "default") -> str:
    return f"{app.settings.topic_prefix}workers.{queues}"


def committed(app: TaskQueue, queue: str = "default") -> dict[int, int]:
    """The group's committed offset per partition (-1001: none yet)."""
    bootstrap = app.settings.broker_url.removeprefix("kafka://")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(app)})
    try:
        topic = app.settings.topic(queue)
        parts = [TopicPartition(topic, p) for p in range(app.settings.partitions)]
        return {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
    finally:
        c.close()


def end_offsets(app: TaskQueue, queue: str = "default") -> dict[int, int]:
    bootstrap = app.settings.broker_url.removeprefix("kafka://")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "inspect-" + uuid.uuid4().hex})
    try:
        topic = app.settings.topic(queue)
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(app.settings.partitions)
        }
    finally:
        c.close()


def all_committed(app: TaskQueue) -> bool:
    ends, done = end_offsets(app), committed(app)
    return all(done[p] == end for p, end in ends.items() if end > 0)


def test_killed_worker_loses_no_job(app: TaskQueue, workers: Workers) -> None:
    first = workers.start(concurrency=4)
    slow = app.tasks["t.slow"]
    results = [slow.delay(f"job{i}", 2.0) for i in range(6)]
    wait_for(lambda: sum(runs(app, f"job{i}") for i in range(6)) >= 2, 60)
    first.signal(signal.SIGKILL)
    first.wait(10)
    workers.start(concurrency=4)
    assert [r.get(timeout=120) for r in results] == [f"job{i}" for i in range(6)]
    for i in range(6):
        assert runs(app, f"job{i}:done") >= 1
    # The jobs the killed worker had started ran again elsewhere, and knew it.
    rerun = [i for i in range(6) if runs(app, f"job{i}") >= 2]
    assert rerun
    wait_for(lambda: all(app.result_store.get(results[i].id) for i in rerun), 10)
    for i in rerun:
        assert app.result_store.get(results[i].id)["attempts"]["0"]["redelivered"] is True


def test_sigterm_finishes_in_flight_work(app: TaskQueue, workers: Workers) -> None:
    worker = workers.start(concurrency=4)
    slow = app.tasks["t.slow"]
    results = [slow.delay(f"warm{i}", 1.5) for i in range(4)]
    wait_for(lambda: all(runs(app, f"warm{i}") == 1 for i in range(4)), 60)
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.output()
    assert all(r.state == State.SUCCESS for r in results)
    assert "SIGTERM: warm shutdown" in worker.output()
    wait_for(lambda: all_committed(app), 10)
    # A new worker does not run any of them again.
    workers.start()
    assert app.tasks["t.add"].delay(1, 1).get(timeout=60) == 2
    assert [runs(app, f"warm{i}") for i in range(4)] == [1, 1, 1, 1]


def test_malformed_and_unknown_messages_are_dead_lettered(app: TaskQueue, workers: Workers) -> None:
    worker = workers.start()
    bootstrap = app.settings.broker_url.removeprefix("kafka://")
    producer = Producer({"bootstrap.servers": bootstrap})
    topic = app.settings.topic("default")
    producer.produce(topic, b"\x00not json at all", b"k1")
    # First found unknown long ago: past its grace period, so dead-lettered now.
    producer.produce(
        topic,
        b'{"v":1,"id":"u1","task":"no.such.task","args":[],"kwargs":{}}',
        b"k2",
        headers=[("tq-unknown-since", b"0")],
    )
    producer.produce(topic, b'{"v":1,"id":"u2","task":"t.add","args":"oops","kwargs":{}}', b"k3")
    assert producer.flush(10) == 0
    assert app.tasks["t.add"].delay(2, 2).get(timeout=60) == 4  # still working
    dead = read_topic(app, app.settings.dead_letter_topic("default"), 3)
    reasons = sorted(dict(m.headers())["tq-dead-reason"].decode() for m in dead)
    assert reasons == ["invalid-envelope", "undecodable", "unknown-task"]
    unknown = next(m for m in dead if dict(m.headers())["tq-dead-reason"] == b"unknown-task")
    assert b"no.such.task" in dict(unknown.headers())["tq-dead-error"]
    assert dict(unknown.headers())["tq-original-topic"].decode() == topic
    wait_for(lambda: all_committed(app), 10)
    assert worker.proc.poll() is None


def read_topic(app: TaskQueue, topic: str, count: int) -> list:
    bootstrap = app.settings.broker_url.removeprefix("kafka://")
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "read-" + uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    out: list = []
    try:
        wait_for(
            lambda: out.extend(m for m in c.consume(10, 0.5) if not m.error()) or len(out) >= count,
            30,
        )
    finally:
        c.close()
    return out


def test_redelivered_finished_job_is_not_run_again(app: TaskQueue, workers: Workers) -> None:
    workers.start()
    first = app.tasks["t.slow"].delay("once", 0.0)
    assert first.get(timeout=60) == "once"
    # A worker of another group re-reads the whole topic: every record is
    # redelivered to it, as after a crash before the commit.
    again = workers.start(env={"TASKQUEUE_GROUP_ID": f"{app.settings.topic_prefix}second"})
    wait_for(lambda: "already SUCCESS" in again.output(), 60)
    assert runs(app, "once") == 1
    coll = app.result_store.collection
    assert coll.count_documents({"_id": first.id}) == 1
    assert app.AsyncResult(first.id).get(timeout=1) == "once"


def test_out_of_order_completion_commits_contiguously(app: TaskQueue, workers: Workers) -> None:
    workers.start(concurrency=4)
    slow = app.tasks["t.slow"]
    # One routing key: all on one partition, the slow job first.
    head = slow.apply_async(("head", 3.0), routing_key="one")
    tail = [slow.apply_async((f"tail{i}", 0.0), routing_key="one") for i in range(5)]
    for r in tail:
        r.get(timeout=60)
    assert head.state != State.SUCCESS
    partition = app.result_store.get(tail[0].id)["attempts"]["0"]["partition"]
    head_offset = end_offsets(app)[partition] - 6
    # Finished later offsets must not be committed past the unfinished head.
    assert committed(app)[partition] in (-1001, head_offset)
    head.get(timeout=60)
    wait_for(lambda: committed(app)[partition] == head_offset + 6, 10)


def test_process_pool_runs_tasks(app: TaskQueue, workers: Workers) -> None:
    workers.start(pool="processes", concurrency=2)
    assert app.tasks["t.add"].delay(3, 4).get(timeout=60) == 7
    r = app.tasks["t.progress"].delay(2)
    assert r.get(timeout=60) == 2
    with pytest.raises(Exception, match="ValueError"):
        app.tasks["t.fail"].delay("in a child").get(timeout=60)


def test_rebalance_moves_partitions_without_losing_or_repeating_jobs(
    app: TaskQueue, workers: Workers
) -> None:
    first = workers.start(concurrency=2)
    slow = app.tasks["t.slow"]
    results = [slow.delay(f"move{i}", 0.5) for i in range(12)]
    wait_for(lambda: runs(app, "move0") + runs(app, "move1") + runs(app, "move2") >= 1, 60)
    second = workers.start(concurrency=2)  # joins: some partitions move to it
    assert [r.get(timeout=120) for r in results] == [f"move{i}" for i in range(12)]
    wait_for(lambda: "partitions revoked" in first.output(), 30)
    # Revoked partitions' running jobs were finished and committed before
    # they moved; queued ones were released unstarted: none ran twice.
    assert [runs(app, f"move{i}") for i in range(12)] == [1] * 12, (first.output(), second.output())


def test_second_signal_stops_at_once_and_the_job_runs_elsewhere(
    app: TaskQueue, workers: Workers
) -> None:
    first = workers.start(concurrency=2)
    result = app.tasks["t.slow"].delay("cold", 3.0)
    wait_for(lambda: runs(app, "cold") == 1, 60)
    first.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: warm shutdown" in first.output(), 10)
    first.signal(signal.SIGTERM)
    assert first.wait(10) != 0, first.output()
    assert runs(app, "cold:done") == 0  # interrupted, not finished
    workers.start()
    assert result.get(timeout=60) == "cold"
    assert runs(app, "cold") == 2
