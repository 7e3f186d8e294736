"""Property: whatever is written to a queue topic, the worker stays up and
every record ends in a final state or as a dead letter with a reason.

Generated raw bytes, JSON envelopes (valid parts mixed with wrong ones) and
Kafka headers go straight to the topic of one running worker, on the
in-memory twins (fast tier). Examples are derandomized: CI runs the same
ones every time, so a failure is reproducible and never flaky.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskqueue import TaskQueue
from taskqueue.exceptions import DecodeError
from taskqueue.message import Message

from .conftest import RunningWorker, state_of, wait_for

pytestmark = [
    pytest.mark.timeout(300),
    # One stack only: the property runs many examples; the shapes it finds
    # are pinned on both stacks in test_envelopes.py.
    pytest.mark.parametrize("stack", [pytest.param("memory", marks=pytest.mark.fast)]),
    # A job of an unknown task is dead-lettered at once, not delayed for a
    # newer worker (that grace period has its own tests in test_rules.py).
    pytest.mark.rule_settings(unknown_task_grace=0),
]

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True, database=None)

FINAL = {"SUCCESS", "FAILURE", "REVOKED"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Any JSON value (NaN and infinities too: Python's decoder reads them)."""

tasks = st.sampled_from(["rules.add", "rules.add", "rules.total", "rules.flaky", "no.such.task"])

wrong_values = json_values | st.lists(st.text(max_size=8), max_size=4)
"""What replaces a part: any JSON, or a list of strings (a dict stored as its
keys, the shape ``link=sig`` used to produce)."""


def corrupted(
    good: st.SearchStrategy[dict[str, Any]], parts: list[str], most: int = 1
) -> st.SearchStrategy[dict[str, Any]]:
    """``good`` with at most ``most`` of ``parts`` replaced by wrong values:
    an envelope wrong in one place reaches the code that acts on that place."""
    overlay = st.dictionaries(st.sampled_from(parts), wrong_values, max_size=most)
    return st.tuples(good, overlay).map(lambda t: {**t[0], **t[1]})


def signatures(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """Callback signatures, now and then wrong in one part."""
    options: dict[str, st.SearchStrategy[Any]] = {
        "task_id": st.uuids().map(str),
        "immutable": st.booleans(),
        "queue": st.just("default"),
    }
    if depth > 0:
        options["link"] = st.lists(signatures(depth - 1), max_size=2)
    good = st.fixed_dictionaries(
        {"task": tasks},
        optional={
            "args": st.lists(st.integers(-5, 5), max_size=2),
            "kwargs": st.just({}),
            "options": corrupted(st.fixed_dictionaries({}, optional=options), list(options)),
        },
    )
    return corrupted(good, ["task", "args", "kwargs", "options"])


chords = st.integers(1, 3).flatmap(
    lambda size: corrupted(
        st.fixed_dictionaries(
            {
                "id": st.uuids().map(str),
                "size": st.just(size),
                "index": st.integers(0, size - 1),
                "callback": signatures(0),
            }
        ),
        ["id", "size", "index", "callback"],
    )
)

past = st.floats(max_value=1e9) | st.sampled_from([math.nan, math.inf])
"""Times at or before 2001 (or not numbers): never a job waiting in the tiers."""

FIELDS = ["v", "id", "task", "args", "kwargs", "queue", "retries", "callbacks", "errbacks"]
FIELDS += ["headers", "root_id", "parent_id", "group", "expires", "sent_at", "extra"]

envelopes = corrupted(
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "id": st.uuids().map(str),
            "task": tasks,
            "args": st.lists(st.integers(-5, 5), min_size=2, max_size=2),
            "kwargs": st.just({}),
        },
        optional={
            "queue": st.just("default"),
            "retries": st.integers(0, 3),
            "eta": past,
            "expires": past | st.just(4e9),
            "callbacks": st.lists(signatures(), max_size=2),
            "errbacks": st.lists(signatures(), max_size=2),
            "headers": st.fixed_dictionaries({}, optional={"tq_chord": chords}),
            "root_id": st.uuids().map(str),
        },
    ),
    FIELDS,
    most=2,
)

kafka_headers = st.lists(
    st.tuples(
        st.sampled_from(
            ["tq-delay-dest", "tq-delay-due", "tq-delay-at", "tq-task", "tq-id", "tq-dead-reason"]
        )
        | st.text(max_size=12),
        st.binary(max_size=20),
    ),
    max_size=4,
)


class Feeder:
    """Publishes records straight to the queue topic and follows each one to
    its end: a final state, or the dead-letter topic with a reason."""

    def __init__(self, app: TaskQueue, worker: RunningWorker) -> None:
        self.app = app
        self.worker = worker
        self.topic = app.settings.topic("default")
        self.dead_topic = app.settings.dead_letter_topic("default")
        self.dead: dict[bytes, str] = {}
        self.reader = app.transport.consumer([self.dead_topic], f"r-{uuid.uuid4().hex}", 10_000)

    def feed(self, records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
        keys = [uuid.uuid4().hex.encode() for _ in records]
        handles = [
            self.app.transport.send(self.topic, value, key, headers)
            for key, (value, headers) in zip(keys, records, strict=True)
        ]
        self.app.transport.wait(handles, 30)
        expect = [(key, self._job_id(value)) for key, (value, _) in zip(keys, records, strict=True)]
        wait_for(lambda: all(self._ended(k, j) for k, j in expect), 60, "every record to end")
        assert self.worker._thread.is_alive(), "the worker stopped"

    def _job_id(self, value: bytes) -> str | None:
        """The id the worker will run it under, or None if it must be refused."""
        try:
            message = Message.decode(value)
        except DecodeError:
            return None
        return message.id if message.task in self.app.tasks else None

    def _ended(self, key: bytes, job_id: str | None) -> bool:
        for record in self.reader.poll(500, 0.01):
            reason = dict(record.headers).get("tq-dead-reason", b"").decode()
            assert reason, f"dead letter without a reason: {record!r}"
            self.dead[record.key] = reason
        if key in self.dead:
            return True
        return job_id is not None and state_of(self.app, job_id) in FINAL

    def close(self) -> None:
        self.reader.close()


@pytest.fixture
def feeder(rapp: TaskQueue, worker: Callable[..., RunningWorker]) -> Any:
    with worker() as running:
        f = Feeder(rapp, running)
        yield f
        f.close()
        assert rapp.tasks["rules.add"].delay(1, 1).get(timeout=30) == 2


def test_raw_bytes_never_stop_the_worker(feeder: Feeder) -> None:
    @EXAMPLES
    @given(st.lists(st.binary(max_size=200), min_size=1, max_size=5))
    def check(values: list[bytes]) -> None:
        feeder.feed([(v, []) for v in values])

    check()


def test_generated_envelopes_never_stop_the_worker(feeder: Feeder) -> None:
    @EXAMPLES
    @given(st.lists(envelopes, min_size=1, max_size=5))
    def check(docs: list[dict[str, Any]]) -> None:
        feeder.feed([(json.dumps(d).encode(), []) for d in docs])

    check()


def test_generated_headers_never_stop_the_worker(feeder: Feeder) -> None:
    @EXAMPLES
    @given(st.lists(st.tuples(envelopes, kafka_headers), min_size=1, max_size=4))
    def check(records: list[tuple[dict[str, Any], list[tuple[str, bytes]]]]) -> None:
        feeder.feed([(json.dumps(d).encode(), h) for d, h in records])

    check()
