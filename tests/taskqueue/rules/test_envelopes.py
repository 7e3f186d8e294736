"""Well-formed but wrong envelopes never stop a worker: each is refused at
decode and dead-lettered with a reason naming the part, and the jobs after
it run. On the in-memory twins (fast tier) and on the real services."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.middleware import Middleware
from taskqueue.worker.execute import Outcome

from .conftest import RunningWorker, read_topic, state_of, wait_for
from .tasks import runs

pytestmark = pytest.mark.timeout(120)


def header(record: object, name: str) -> str:
    return dict(record.headers).get(name, b"").decode()  # type: ignore[attr-defined]


def envelope(**fields: Any) -> dict[str, Any]:
    """A valid envelope of ``rules.add(1, 2)``, with ``fields`` replaced."""
    doc: dict[str, Any] = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "task": "rules.add",
        "args": [1, 2],
        "kwargs": {},
        "queue": "default",
    }
    doc.update(fields)
    return doc


ADD = {"task": "rules.add", "args": [1], "kwargs": {}, "options": {}}
CHORD = {"id": "c1", "size": 2, "index": 0, "callback": {"task": "rules.total"}}

BAD_SHAPES: dict[str, dict[str, Any]] = {
    # What `link=sig` stored before a single signature was accepted: its keys.
    "callbacks[0]": envelope(callbacks=["task", "args", "kwargs", "options"]),
    "callbacks[0].task": envelope(callbacks=[{"args": [1]}]),
    "callbacks[0].args": envelope(callbacks=[{**ADD, "args": {"x": 1}}]),
    "callbacks[0].kwargs": envelope(callbacks=[{**ADD, "kwargs": [1]}]),
    "callbacks[0].options": envelope(callbacks=[{**ADD, "options": "fast"}]),
    "callbacks[0].options.link": envelope(callbacks=[{**ADD, "options": {"link": ADD}}]),
    "errbacks[0].task": envelope(errbacks=[{**ADD, "task": 7}]),
    "errbacks": envelope(errbacks=ADD),
    "headers.tq_chord": envelope(headers={"tq_chord": "c1"}),
    "headers.tq_chord.id": envelope(headers={"tq_chord": {**CHORD, "id": 5}}),
    "headers.tq_chord.size": envelope(headers={"tq_chord": {**CHORD, "size": 0}}),
    "headers.tq_chord.index": envelope(headers={"tq_chord": {**CHORD, "index": 2}}),
    "headers.tq_chord.callback": envelope(headers={"tq_chord": {**CHORD, "callback": "x"}}),
    "'args'": envelope(args="oops"),
    "'kwargs'": envelope(kwargs=[1]),
    "'retries'": envelope(retries=-1),
    "'eta'": envelope(eta="soon"),
    "'expires'": envelope(expires=True),
    "'root_id'": envelope(root_id=7),
    "queue": envelope(queue="no spaces allowed"),
}
"""Field named in the dead letter's error -> an envelope wrong there."""


def publish_raw(app: TaskQueue, records: list[tuple[bytes, bytes]]) -> None:
    topic = app.settings.topic("default")
    handles = [app.transport.send(topic, value, key) for key, value in records]
    app.transport.wait(handles, 30)


def test_wrong_envelopes_are_dead_lettered_and_the_worker_goes_on(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    records = [(name.encode(), json.dumps(doc).encode()) for name, doc in BAD_SHAPES.items()]
    with worker() as w:
        publish_raw(rapp, records)
        assert rapp.tasks["rules.add"].delay(20, 22).get(timeout=60) == 42
        dead = read_topic(rapp, rapp.settings.dead_letter_topic("default"), len(records))
        assert w._thread.is_alive()
    by_field = {r.key.decode(): r for r in dead}
    assert sorted(by_field) == sorted(BAD_SHAPES)
    for name, record in by_field.items():
        assert header(record, "tq-dead-reason") == "invalid-envelope", name
        assert name in header(record, "tq-dead-error"), name
    # None of the wrong ones ran; the good one did.
    assert [r[1] for r in runs(rapp, "rules.add")] == [(20, 22)]


def test_link_and_link_error_take_a_single_signature(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]
    on_success = add.s(10).set(task_id=str(uuid.uuid4()))
    on_error = add.si(5, 6).set(task_id=str(uuid.uuid4()))
    with worker():
        assert add.apply_async((1, 2), link=on_success).get(timeout=30) == 3
        assert rapp.AsyncResult(on_success.options["task_id"]).get(timeout=30) == 13
        failing = add.apply_async((1, "x"), link_error=on_error)
        wait_for(lambda: state_of(rapp, failing.id) == "FAILURE", what="the failing job")
        assert rapp.AsyncResult(on_error.options["task_id"]).get(timeout=30) == 11
        # A list still works, and a signature's own link may be single too.
        last = add.s(100).set(task_id=str(uuid.uuid4()))
        step = add.s(1000).set(link=last)
        assert add.apply_async((0, 1), link=[step]).get(timeout=30) == 1
        assert rapp.AsyncResult(last.options["task_id"]).get(timeout=30) == 1101


class _ReturnsTheResult(Middleware):
    """A buggy middleware: returns a ``rules.total`` job's result where the
    worker expects an outcome, so recording that job fails."""

    def on_outcome(self, app: TaskQueue, message: Any, outcome: Outcome) -> Any:
        return outcome.result if message.task == "rules.total" else None


def test_a_job_whose_outcome_cannot_be_recorded_fails_alone(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """The job fails with the reason, its dead letter says why, and the loop
    goes on with the next job."""
    rapp.middleware.add(_ReturnsTheResult())
    total, add = rapp.tasks["rules.total"], rapp.tasks["rules.add"]
    with worker() as w:
        broken = total.apply_async(([1, 2],), link=add.s(1))
        wait_for(lambda: state_of(rapp, broken.id) == "FAILURE", what="the broken job to fail")
        assert add.delay(2, 2).get(timeout=30) == 4
        assert w._thread.is_alive()
    assert "recording the job's SUCCESS failed" in broken.info["exc_message"]
    [dead] = read_topic(rapp, rapp.settings.dead_letter_topic("default"), 1)
    assert dead.key == broken.id.encode()
    assert header(dead, "tq-dead-reason") == "unrecordable"
    # Recording failed before any follow-up was built: the link never ran.
    assert [r[1] for r in runs(rapp, "rules.add")] == [(2, 2)]
