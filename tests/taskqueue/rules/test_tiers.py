"""Delay-tier threads survive faults and strand nothing (taskqueue.delays),
on the in-memory twins (fast tier) and on the real services."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.config import Settings
from taskqueue.delays import DEST, DUE, MALFORMED, found_tiers
from taskqueue.exceptions import PublishError
from taskqueue.transport import PublishHandle

from .conftest import RunningWorker, read_topic
from .tasks import runs

pytestmark = pytest.mark.timeout(120)


def header(record: Any, name: str) -> str:
    return dict(record.headers).get(name, b"").decode()


def test_a_malformed_tier_record_is_dead_lettered_and_later_records_still_forward(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    s = rapp.settings
    tier = s.delay_topic(0.2)
    queue_topic = s.topic("default")
    bad = [
        (b"no-headers", []),
        (b"bad-due", [(DEST, queue_topic.encode()), (DUE, b"soon")]),
        (b"foreign-dest", [(DEST, b"elsewhere"), (DUE, repr(time.time()).encode())]),
    ]
    for key, headers in bad:
        rapp.transport.wait([rapp.transport.send(tier, b"{}", key, headers)], 30)
    with worker():
        # Same tier, behind the malformed records in its partition.
        result = rapp.tasks["rules.add"].apply_async((1, 2), countdown=0.3)
        assert result.get(timeout=60) == 3
        letters = read_topic(rapp, s.dead_letter_topic("default"), len(bad))
    assert sorted(r.key for r in letters) == sorted(key for key, _ in bad)
    for record in letters:
        assert header(record, "tq-dead-reason") == MALFORMED
        assert header(record, "tq-original-topic") == tier
    errors = {r.key: header(r, "tq-dead-error") for r in letters}
    assert "tq-delay-dest" in errors[b"no-headers"]
    assert "tq-delay-due" in errors[b"bad-due"]
    assert "tq-delay-dest" in errors[b"foreign-dest"]


def test_a_tier_thread_that_raises_is_restarted_and_loses_nothing(
    rapp: TaskQueue,
    worker: Callable[..., RunningWorker],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first forward out of a tier raises (as a broken broker client
    would); the tier consumer is restarted and the record still forwarded."""
    transport = rapp.transport
    real_send = transport.send
    failed = threading.Event()

    def send_failing_once(topic: str, value: bytes, *rest: Any) -> PublishHandle:
        in_tier = threading.current_thread().name.startswith("taskqueue-delay-")
        if in_tier and topic == rapp.settings.topic("default") and not failed.is_set():
            failed.set()
            raise PublishError("injected: the producer refused the record")
        return real_send(topic, value, *rest)

    monkeypatch.setattr(transport, "send", send_failing_once)
    with caplog.at_level(logging.ERROR, logger="taskqueue.delays"), worker():
        result = rapp.tasks["rules.add"].apply_async((2, 2), countdown=0.3)
        assert result.get(timeout=60) == 4
        later = rapp.tasks["rules.add"].apply_async((3, 3), countdown=0.3)
        assert later.get(timeout=60) == 6
    assert failed.is_set(), "the fault was never injected"
    restarts = [r for r in caplog.records if "restart 1" in r.getMessage()]
    assert restarts and restarts[0].exc_info, "the failure was not logged with its traceback"
    assert [r[1] for r in runs(rapp, "rules.add")] == [(2, 2), (3, 3)]


def test_a_record_in_a_tier_no_longer_configured_is_forwarded_and_runs(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """A record written while ``delay_tiers`` had a 7 s tier is forwarded by
    workers whose tiers no longer include it."""
    current = rapp.settings
    rapp.settings = current.replace(delay_tiers=(7.0,))  # an older deployment's setting
    try:
        rapp.declare_topics(["default"])
        sent = time.time()
        result = rapp.tasks["rules.add"].apply_async((5, 6), countdown=1.5)
    finally:
        rapp.settings = current
    old_tier = current.delay_topic(7.0)
    assert old_tier not in [current.delay_topic(t) for t in current.delay_tiers]
    assert [r.key for r in read_topic(rapp, old_tier, 1)] == [result.id.encode()]
    with worker():
        assert result.get(timeout=60) == 11
    [run] = runs(rapp, "rules.add")
    assert run[3] >= sent + 1.5, "ran before its countdown"


@pytest.mark.fast
def test_only_canonical_tier_names_of_this_app_are_found() -> None:
    s = Settings.load(env={}, topic_prefix="app.", delay_tiers="0.2,1")
    topics = [
        "app.delay.200ms",  # current tier: has its consumer already
        "app.delay.1s",
        "app.delay.7s",
        "app.delay.1500ms",
        "app.delay.1000ms",  # not a name tier_label writes (that is delay.1s)
        "app.delay.05s",
        "app.delay.7s.bak",
        "other.delay.30s",
        "app.default",
    ]
    assert found_tiers(s, topics) == {"app.delay.7s": 7.0, "app.delay.1500ms": 1.5}
