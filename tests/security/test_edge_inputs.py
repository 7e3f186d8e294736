"""Bad input at the edges (issue 17, item 9), refused with errors that say why.

- NaN and the infinities: not JSON; an envelope holding one is refused at
  submission, and one published by someone else is dead-lettered at
  receipt, never parked in the longest delay tier forever.
- Negative retries in an envelope: refused both ways.
- NUL in an idempotency key (framework) or a search (GraphQL): refused.
- Dead-letter replay reopens the job its ``tq-id`` header names, never a
  different id found in the body.

Each rule runs on the in-memory twins (fast tier) and on the real services.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from jobs.models import Job
from taskqueue import TaskQueue
from taskqueue.exceptions import InvalidEnvelope
from taskqueue.message import Message
from taskqueue.stores.state import StateUpdate
from tests.taskqueue.rules.conftest import (  # noqa: F401 - fixtures
    RunningWorker,
    rapp,
    read_topic,
    stack,
    worker,
)
from tests.taskqueue.rules.test_envelopes import envelope, header, publish_raw

pytestmark = pytest.mark.timeout(120)


# --- envelopes --------------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize(
    "body, named",
    [
        ('{"v":1,"id":"j","task":"t","args":[],"kwargs":{},"eta":Infinity}', "Infinity"),
        ('{"v":1,"id":"j","task":"t","args":[NaN],"kwargs":{}}', "NaN"),
        ('{"v":1,"id":"j","task":"t","args":[],"kwargs":{"x":-Infinity}}', "-Infinity"),
        ('{"v":1,"id":"j","task":"t","args":[],"kwargs":{},"retries":-1}', "'retries'"),
    ],
)
def test_envelopes_with_non_numbers_or_negative_retries_do_not_decode(
    body: str, named: str
) -> None:
    with pytest.raises(InvalidEnvelope, match=named):
        Message.decode(body.encode())


@pytest.mark.fast
def test_messages_no_worker_would_accept_are_not_encoded() -> None:
    for change, named in (
        ({"eta": math.inf}, "eta"),
        ({"eta": math.nan}, "eta"),
        ({"expires": -math.inf}, "expires"),
        ({"retries": -1}, "retries"),
    ):
        with pytest.raises(ValueError, match=named):
            Message(id="j", task="t", **change).encode()  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON-serializable"):
        Message(id="j", task="t", args=(math.nan,)).encode()


def test_infinite_countdown_and_nan_arguments_are_refused_at_submission(
    rapp: TaskQueue,  # noqa: F811
) -> None:
    add = rapp.tasks["rules.add"]
    with pytest.raises(ValueError, match="eta of task rules.add .* not a finite time"):
        add.apply_async((1, 2), countdown=math.inf)
    with pytest.raises(ValueError, match="not a finite time"):
        add.apply_async((1, 2), eta=math.nan)
    with pytest.raises(TypeError, match="not JSON-serializable"):
        add.apply_async((math.inf, 2))
    with pytest.raises(ValueError, match="control character '\\\\x00'"):
        add.apply_async((1, 2), idempotency_key="order\x00-1")
    with pytest.raises(ValueError, match="non-empty"):
        add.apply_async((1, 2), idempotency_key="")
    # The key was refused before anything was claimed: a clean key still works.
    assert add.apply_async((1, 2), idempotency_key="order-1").id


def test_an_infinite_eta_is_dead_lettered_not_delayed_forever(
    rapp: TaskQueue,  # noqa: F811
    worker: Callable[..., RunningWorker],  # noqa: F811
) -> None:
    """Python writes Infinity and NaN into JSON when asked; another producer
    may too. The worker refuses the record at receipt, naming the value."""
    bad = {
        "eta-infinity": envelope(eta=math.inf),
        "expires-nan": envelope(expires=math.nan),
        "args-nan": envelope(args=[math.nan, 1]),
    }
    with worker():
        publish_raw(rapp, [(k.encode(), json.dumps(doc).encode()) for k, doc in bad.items()])
        assert rapp.tasks["rules.add"].delay(1, 1).get(timeout=60) == 2
        dead = read_topic(rapp, rapp.settings.dead_letter_topic("default"), len(bad))
    by_key = {r.key.decode(): r for r in dead}
    assert sorted(by_key) == sorted(bad)
    for record in by_key.values():
        assert header(record, "tq-dead-reason") == "invalid-envelope"
        assert "not a JSON number" in header(record, "tq-dead-error")
    # Nothing went to the delay tiers to come round again.
    for name in bad:
        assert rapp.state_backend.read(bad[name]["id"]).get("state") is None


# --- dead-letter replay ---------------------------------------------------------------


@pytest.mark.parametrize("stack", ["real"])  # dead-letter tools need the Kafka transport
def test_replay_reopens_the_id_selected_by_header_only(
    rapp: TaskQueue,  # noqa: F811
    stack: str,  # noqa: F811
) -> None:
    finished, chosen = str(uuid.uuid4()), str(uuid.uuid4())
    rapp.state_backend.write(StateUpdate(finished, "SUCCESS", 0, payload=None))
    topic = rapp.settings.dead_letter_topic("default")
    rapp.declare_topics(["default"])
    # A record whose header says `chosen` but whose body is job `finished`.
    forged = json.dumps(envelope(id=finished)).encode()
    headers = [("tq-id", chosen.encode()), ("tq-task", b"rules.add")]
    honest = json.dumps(envelope(id=chosen)).encode()
    handles = [
        rapp.transport.send(topic, honest, chosen.encode(), headers),
        rapp.transport.send(topic, forged, chosen.encode(), headers),
    ]
    rapp.transport.wait(handles, 30)
    letters = rapp.dead_letters("default")
    assert letters.replay(ids=[chosen]) == [chosen]
    # The finished job was not reopened; the forged entry is still listed.
    assert rapp.state_backend.read(finished).get("state") == "SUCCESS"
    assert [e.offset for e in letters.list(ids=[chosen])] == [1]


# --- GraphQL search --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_search_with_control_characters_is_refused(
    client: Any,
    alice: Any,
    jobs_app: TaskQueue,
    gql: Callable[..., dict[str, Any]],
) -> None:
    Job.objects.create(owner=alice, provider="quote", params={"symbol": "AAPL"})
    client.force_login(alice)
    query = "query($s: String) { jobs(search: $s) { totalCount } }"
    for text in ("AA\x00PL", "\x00", "AAPL\x1b[2J"):
        body = gql(query, {"s": text})
        [error] = body["errors"]
        assert "control characters" in error["message"], error
        assert error["extensions"]["field"] == "search"
    assert gql(query, {"s": "AAPL"})["data"]["jobs"]["totalCount"] == 1
