"""Messages a worker cannot run or record, mixed into good load: each ends
as a dead letter with a reason (or a stored FAILURE saying why), the good
jobs all succeed, and the worker never stops."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskqueue import TaskQueue
from tests.taskqueue.rules.conftest import read_topic
from tests.taskqueue.rules.test_envelopes import BAD_SHAPES

from .conftest import FaultWorkers
from .harness import run_scenario, wait_final

pytestmark = pytest.mark.timeout(300)

UNDECODABLE = b"\x00not json at all"
UNKNOWN_TASK = {"v": 1, "id": "u1", "task": "no.such.task", "args": [], "kwargs": {}}


def header(record: Any, name: str) -> str:
    return dict(record.headers).get(name, b"").decode()


def test_poison_envelopes_are_dead_lettered_with_a_reason_amid_good_load(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    worker = fworkers.start(concurrency=4)
    poison = {name.encode(): json.dumps(doc).encode() for name, doc in BAD_SHAPES.items()}
    poison[b"undecodable"] = UNDECODABLE
    poison[b"unknown-task"] = json.dumps(UNKNOWN_TASK).encode()
    topic = fapp.settings.topic("default")

    def publish() -> None:
        # The unknown task was first seen long ago: past its grace period.
        handles = [
            fapp.transport.send(topic, value, key, [("tq-unknown-since", b"0")])
            for key, value in poison.items()
        ]
        fapp.transport.wait(handles, 30)

    run_scenario(fapp, f"poison envelopes ({len(poison)} shapes)", publish)
    dead = read_topic(fapp, fapp.settings.dead_letter_topic("default"), len(poison), 60)
    reasons = {r.key: header(r, "tq-dead-reason") for r in dead}
    assert sorted(reasons) == sorted(poison)
    assert reasons.pop(b"undecodable") == "undecodable"
    assert reasons.pop(b"unknown-task") == "unknown-task"
    assert set(reasons.values()) == {"invalid-envelope"}
    for record in dead:
        if record.key in BAD_SHAPES:
            assert record.key.decode() in header(record, "tq-dead-error")
    assert worker.proc.poll() is None


def test_unstorable_results_and_refused_follow_ups_cost_only_their_job(
    fapp: TaskQueue, fworkers: FaultWorkers
) -> None:
    """A result MongoDB cannot hold as is, one over ``result_max_bytes``, a
    follow-up over ``max_message_bytes`` and a follow-up to a queue without
    a topic, mixed into good load."""
    # Kafka answers "unknown topic" once its metadata wait ends (30 s by
    # default); a shorter wait keeps the scenario short, not different.
    producer = json.dumps({"topic.metadata.propagation.max.ms": 5000})
    worker = fworkers.start(concurrency=4, env={"TASKQUEUE_KAFKA_PRODUCER_OPTIONS": producer})
    value, work, add = fapp.tasks["rel.value"], fapp.tasks["rel.work"], fapp.tasks["t.add"]
    jobs: dict[str, Any] = {}

    def submit_bad() -> None:
        jobs["wide-int"] = value.delay("wide-int")
        jobs["huge"] = value.delay("huge")
        jobs["over-message"] = value.apply_async(("over-message",), link=work.s(0.0))
        jobs["nowhere"] = add.apply_async((1, 2), link=add.s(1).set(queue="nowhere"))

    run_scenario(fapp, "unstorable results, refused follow-ups (4 kinds)", submit_bad)
    ids = {kind: r.id for kind, r in jobs.items()}
    wait_final(fapp, list(ids.values()))
    assert jobs["wide-int"].get(timeout=10) == 2**64  # kept exact, as JSON
    huge = fapp.result_store.get(ids["huge"])
    assert huge is not None and huge["state"] == "FAILURE"
    assert huge["error"]["exc_type"] == "ResultTooLarge"
    assert "result_max_bytes" in huge["error"]["exc_message"]
    assert jobs["nowhere"].get(timeout=10) == 3
    dead = read_topic(fapp, fapp.settings.dead_letter_topic("default"), 3, 60)
    by_key = {r.key.decode(): r for r in dead}
    assert sorted(by_key) == sorted([ids["huge"], ids["over-message"], ids["nowhere"]])
    assert "ResultTooLarge" in header(by_key[ids["huge"]], "tq-dead-error")
    too_big = by_key[ids["over-message"]]
    assert header(too_big, "tq-dead-reason") == "follow-up-failed"
    assert "max_message_bytes" in header(too_big, "tq-dead-error")
    missing = by_key[ids["nowhere"]]
    assert header(missing, "tq-dead-reason") == "follow-up-failed"
    assert fapp.settings.topic("nowhere") in header(missing, "tq-dead-error")
    assert worker.proc.poll() is None
