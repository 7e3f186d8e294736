"""The policy chain's error rule at admission: a broken policy refuses its
jobs; a store that is down is not a broken policy."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from taskqueue import TaskQueue
from taskqueue.message import Message
from taskqueue.middleware import Admission, Middleware, MiddlewareChain, Stage
from taskqueue.stores.state import StateStoreUnavailable


class Raising(Middleware):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        raise self.error


def _batch() -> list[Admission]:
    return [Admission(Message(id=f"j{i}", task="t"), Stage.RECEIVED, time.time()) for i in range(3)]


@pytest.fixture
def app(unique_name: str) -> TaskQueue:
    return TaskQueue("chain", broker_url="memory://", redis_url="memory://", key_prefix=unique_name)


@pytest.mark.fast
def test_a_policy_that_cannot_decide_refuses_its_jobs(app: TaskQueue) -> None:
    batch = _batch()
    MiddlewareChain([Raising(ValueError("bad rule"))]).admit(app, batch)
    for a in batch:
        assert a.verdict is not None and a.verdict.state == "FAILURE"
        assert a.verdict.error is not None and a.verdict.error["exc_type"] == "PolicyError"
        assert "bad rule" in a.verdict.error["exc_message"]


@pytest.mark.fast
def test_a_state_store_outage_is_not_a_refusal(app: TaskQueue) -> None:
    batch = _batch()
    chain = MiddlewareChain([Raising(StateStoreUnavailable("redis is down"))])
    with pytest.raises(StateStoreUnavailable):
        chain.admit(app, batch)
    assert all(a.verdict is None for a in batch), "no job may fail for a store blip"
