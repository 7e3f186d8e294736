"""A finished job's final state is written last, after Kafka has its follow-ups.

The final state is the redelivery check's marker: a copy of a job whose
state is final (or RETRY, for its attempt) is acked without running. Were
it written while a follow-up still sat in the producer's queue, a crash
would lose that follow-up for good. These tests hold the follow-ups'
delivery reports back and watch the ledger (memory stores and transport,
fast tier).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from taskqueue import Message, TaskQueue
from taskqueue.states import FAILURE, RETRY, SUCCESS
from taskqueue.transport import Delivery, PublishHandle
from taskqueue.worker.execute import Outcome
from taskqueue.worker.jobs import Job, Ledger

from .conftest import memory_app

pytestmark = pytest.mark.fast


class HeldReports:
    """Replaces the transport's send: records what is sent, and reports a
    delivery only when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[PublishHandle, bytes]] = []

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Any = None,
        lane: str = "prompt",
    ) -> PublishHandle:
        handle = PublishHandle(topic, key)
        self.sent.append((handle, value))
        return handle

    def deliver_all(self, error: str | None = None, permanent: bool = False) -> None:
        for handle, _ in self.sent:
            if not handle.done:
                handle.resolve(error, None if error else 0, None if error else 1, permanent)

    def messages(self) -> list[Message]:
        return [Message.decode(value) for _, value in self.sent]


@pytest.fixture
def app(unique_name: str) -> Iterator[TaskQueue]:
    app = memory_app("order", unique_name, follow_up_publish_retries=0)
    yield app
    app.close()


def settle(ledger: Ledger) -> list[Job]:
    """One turn of the worker loop's settle step."""
    ledger.flush_results(force=True)
    ledger.confirm()
    ledger.write_states()
    return ledger.ackable()


def linked_job(app: TaskQueue) -> Job:
    link = {"task": "t.next", "args": [], "kwargs": {}, "options": {}}
    message = Message(id="parent", task="t.first", callbacks=(link, link))
    return Job(Delivery("topic", 0, 7, b"parent", message.encode(), []), message)


def test_the_final_state_waits_for_every_follow_up(
    app: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = HeldReports()
    monkeypatch.setattr(app.transport, "send", reports.send)
    ledger = Ledger(app, "w1")
    job = linked_job(app)
    ledger.finished(job, Outcome(SUCCESS, result=3, started_at=1.0, finished_at=2.0))
    assert settle(ledger) == [], "not acked before its follow-ups are in Kafka"
    assert app.state.read("parent").get("state") is None, "no final state yet"
    assert app.result_store.get("parent") is not None, "the result itself is stored"
    reports.deliver_all()
    assert settle(ledger) == [job]
    assert app.state.read("parent")["state"] == SUCCESS


def test_a_rerun_sends_the_same_follow_ups(app: TaskQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed before the final state: the copy runs again, and its
    follow-ups carry the same ids, so they are the same jobs."""
    ids = []
    for worker in ("w1", "w2"):
        reports = HeldReports()
        monkeypatch.setattr(app.transport, "send", reports.send)
        Ledger(app, worker).finished(linked_job(app), Outcome(SUCCESS, result=3))
        ids.append([m.id for m in reports.messages()])
    assert len(ids[0]) == 2 and len(set(ids[0])) == 2, "one id per link"
    assert ids[0] == ids[1]


def test_a_retry_whose_next_attempt_cannot_be_sent_ends_in_failure_never_retry(
    app: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = HeldReports()
    monkeypatch.setattr(app.transport, "send", reports.send)
    ledger = Ledger(app, "w1")
    message = Message(id="flaky", task="t.flaky")
    job = Job(Delivery("topic", 0, 3, b"flaky", message.encode(), []), message)
    ledger.finished(job, Outcome(RETRY, error={"exc_type": "E", "exc_message": "x"}))
    settle(ledger)
    assert app.state.read("flaky").get("state") is None
    reports.deliver_all(error="unknown topic", permanent=True)  # the retry is refused
    settle(ledger)  # sends the job's dead letter
    assert app.state.read("flaky").get("state") is None, "RETRY is never written"
    reports.deliver_all()  # the dead letter is in Kafka
    assert settle(ledger) == [job]
    assert app.state.read("flaky")["state"] == FAILURE


def test_a_follow_up_that_cannot_be_sent_ends_in_failure(
    app: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever waits on it (a chain's last result, a chord's callback) gets
    an answer instead of waiting forever."""
    reports = HeldReports()
    monkeypatch.setattr(app.transport, "send", reports.send)
    blob = "x" * (app.settings.max_message_bytes + 1)
    link = {"task": "t.next", "args": [], "kwargs": {"blob": blob}, "options": {"task_id": "c"}}
    message = Message(id="parent", task="t.first", callbacks=(link,))
    job = Job(Delivery("topic", 0, 1, b"parent", message.encode(), []), message)
    ledger = Ledger(app, "w1")
    ledger.finished(job, Outcome(SUCCESS, result=1))
    for _ in range(3):  # the parent is dead-lettered; its dead letter delivered
        settle(ledger)
        reports.deliver_all()
    child = app.state.read("c")
    assert child["state"] == FAILURE
    assert "MessageTooLarge" in child["payload"] and "never sent" in child["payload"]
