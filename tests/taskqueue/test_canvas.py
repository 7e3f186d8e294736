"""Canvas on real services: chain, group, chord (exactly one callback even
when a member's record is delivered twice), link/link_error signatures."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer

from taskqueue import GroupResult, TaskQueue, chain, chord, group

from .conftest import Workers, wait_for
from .policy_app import APP, runs

pytestmark = pytest.mark.timeout(180)


def test_chain_feeds_each_result_to_the_next(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    add, chained = papp.tasks["t.add"], papp.tasks["t.chained"]
    result = chain(add.s(2, 3), chained.s(10), chained.si(1, 1)).apply_async()
    assert result.get(timeout=60) == 2  # the immutable last step ignores 15
    piped = (add.s(1, 1) | chained.s(5)).delay()
    assert piped.get(timeout=60) == 7


def test_group_runs_every_member(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    square = papp.tasks["p.square"]
    result = group(square.s(i) for i in range(5)).apply_async()
    assert isinstance(result, GroupResult)
    assert result.get(timeout=60) == [0, 1, 4, 9, 16]
    assert result.ready() and result.completed_count() == 5


def duplicate_records(app: TaskQueue, task: str) -> int:
    """Produce every record of ``task`` in the default queue a second time,
    byte for byte: what Kafka does when a consumer dies before committing."""
    s = app.settings
    bootstrap = s.broker_url.removeprefix("kafka://")
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "dup-" + uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([s.topic("default")])
    found = []
    try:
        for _ in range(40):
            for m in c.consume(100, 0.5):
                if m.error() is None and dict(m.headers() or []).get("tq-task") == task.encode():
                    found.append(m)
            if len(found) >= 3:
                break
    finally:
        c.close()
    p = Producer({"bootstrap.servers": bootstrap})
    for m in found:
        p.produce(m.topic(), m.value(), m.key(), headers=m.headers(), partition=m.partition())
    p.flush(10)
    return len(found)


def test_chord_callback_runs_once_when_members_are_redelivered(
    papp: TaskQueue, workers: Workers
) -> None:
    workers.start("-A", APP, concurrency=6)
    square, total = papp.tasks["p.square"], papp.tasks["p.total"]
    result = chord([square.s(i, 1.0) for i in range(3)], total.s("cb")).apply_async()
    # Duplicates arrive while the originals run (each member sleeps 1 s):
    # both copies succeed and report to the chord.
    assert duplicate_records(papp, "p.square") == 3
    assert result.get(timeout=60) == 0 + 1 + 4
    wait_for(lambda: papp.state_backend.client.llen(f"{papp.settings.key_prefix}:runs:cb") >= 1, 30)
    # Let every duplicate finish, then count the callback's runs.
    wait_for(lambda: papp.state_backend.read(result.id).get("state") == "SUCCESS", 30)
    workers.stop_all()
    assert len(runs(papp, "cb")) == 1


def test_failed_chord_member_fails_the_callback(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    square, total, fail = papp.tasks["p.square"], papp.tasks["p.total"], papp.tasks["t.fail"]
    result = chord([square.s(2), fail.s("boom")], total.s("never")).apply_async()
    with pytest.raises(Exception, match="ChordError"):
        result.get(timeout=60)
    assert len(runs(papp, "never")) == 0


def test_link_and_link_error_take_signatures(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    add, record, fail = papp.tasks["t.add"], papp.tasks["p.record"], papp.tasks["t.fail"]
    add.apply_async((1, 2), link=[record.si("linked")]).get(timeout=60)
    with pytest.raises(Exception, match="ValueError"):
        fail.apply_async(("x",), link_error=[record.si("errback")]).get(timeout=60)
    wait_for(lambda: len(runs(papp, "linked")) == 1 and len(runs(papp, "errback")) == 1, 60)
