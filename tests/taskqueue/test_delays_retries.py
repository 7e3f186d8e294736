"""Delays through the Kafka delay tiers, retries with backoff, dead letters
and their replay: on real Kafka, Redis and Mongo with worker subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from taskqueue import State, TaskQueue

from .conftest import ROOT, Workers, wait_for
from .policy_app import APP, runs

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def tq_env(tq_env: dict[str, str]) -> dict[str, str]:
    # Small tiers keep the tests short; hops through both are still exercised.
    return {**tq_env, "TASKQUEUE_DELAY_TIERS": "1,2"}


def records_in(app: TaskQueue, topic: str) -> int:
    bootstrap = app.settings.broker_url.removeprefix("kafka://")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "inspect-" + uuid.uuid4().hex})
    try:
        return sum(
            c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(app.settings.partitions)
        )
    finally:
        c.close()


def test_delayed_job_is_delivered_after_a_worker_restart(papp: TaskQueue, workers: Workers) -> None:
    first = workers.start("-A", APP)
    result = papp.tasks["p.record"].apply_async(("late",), countdown=5)
    tiers = [papp.settings.delay_topic(t) for t in (1, 2)]
    # The job waits in a tier topic, not in the queue and not in the worker.
    assert records_in(papp, tiers[1]) == 1
    assert records_in(papp, papp.settings.topic("default")) == 0
    first.signal(signal.SIGKILL)
    first.wait(10)
    assert result.state == State.PENDING and len(runs(papp, "late")) == 0
    workers.start("-A", APP)
    assert result.get(timeout=90) == "late"
    assert len(runs(papp, "late")) == 1
    # It reached its queue once, forwarded by the restarted worker's tier consumer.
    assert records_in(papp, papp.settings.topic("default")) == 1


def test_eta_in_the_past_runs_at_once(papp: TaskQueue, workers: Workers) -> None:
    workers.start("-A", APP)
    result = papp.tasks["p.record"].apply_async(("now",), eta=papp.now() - 30)
    assert result.get(timeout=60) == "now"
    assert records_in(papp, papp.settings.delay_topic(1)) == 0


def test_retry_backoff_ends_in_dead_letter_and_is_replayed(
    papp: TaskQueue, workers: Workers, tq_env: dict[str, str]
) -> None:
    workers.start("-A", APP)
    result = papp.tasks["p.backoff"].delay("down")
    with pytest.raises(Exception, match="ConnectionError"):
        result.get(timeout=90)
    assert len(runs(papp, "down")) == 3  # first run + max_retries=2
    wait_for(lambda: (papp.result_store.get(result.id) or {}).get("final") is True, 30)
    doc = papp.result_store.get(result.id)
    assert doc is not None
    assert [doc["attempts"][k]["state"] for k in ("0", "1", "2")] == ["RETRY", "RETRY", "FAILURE"]
    # Retries with backoff went through the delay tiers.
    assert records_in(papp, papp.settings.delay_topic(1)) >= 1

    letters = papp.dead_letters("default")
    wait_for(lambda: len(letters.list()) == 1, 30)
    [entry] = letters.list()
    assert (entry.id, entry.task, entry.reason, entry.attempts) == (
        result.id,
        "p.backoff",
        "failed",
        3,
    )
    assert "ConnectionError" in entry.error and "ConnectionError" in entry.traceback

    # The CLI shows the same entry.
    out = subprocess.run(
        [sys.executable, "-m", "taskqueue", "dlq", "list", "-A", APP, "--json"],
        cwd=ROOT,
        env={**os.environ, **tq_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == [result.id]

    # Replay: same id, a full retry budget again, and the history is kept.
    assert letters.replay([result.id]) == [result.id]
    wait_for(lambda: len(runs(papp, "down")) == 6, 60)
    fresh = papp.AsyncResult(result.id)
    with pytest.raises(Exception, match="ConnectionError"):
        fresh.get(timeout=60)
    wait_for(lambda: len(letters.list()) == 1 and letters.list()[0].offset != entry.offset, 30)
    wait_for(lambda: (papp.result_store.get(result.id) or {}).get("final") is True, 30)
    doc = papp.result_store.get(result.id)
    assert doc is not None and len(doc["replays"]["0"]) == 3 and len(doc["attempts"]) == 3
    assert letters.purge() == 1
    assert letters.list() == []
