"""Unit tests of pure logic (no services): states, settings, envelope,
offset tracking, middleware policy, eager calls, the in-memory transport."""

from __future__ import annotations

import json

import pytest

from taskqueue import (
    ConfigurationError,
    DecodeError,
    Message,
    MessageTooLarge,
    Middleware,
    State,
    TaskQueue,
)
from taskqueue.config import Settings
from taskqueue.states import may_replace
from taskqueue.transport.memory import MemoryTransport
from taskqueue.transport.offsets import OffsetTracker, PartitionOffsets

# --- states ------------------------------------------------------------------


def test_final_state_is_never_replaced() -> None:
    for final in (State.SUCCESS, State.FAILURE, State.REVOKED):
        for new in State:
            assert not may_replace(final, 0, new, 0)
            assert not may_replace(final, 0, new, 5)


def test_older_attempt_never_overwrites_newer() -> None:
    assert not may_replace(State.RECEIVED, 2, State.SUCCESS, 1)
    assert may_replace(State.RETRY, 1, State.RECEIVED, 2)


def test_state_rank_does_not_go_down_within_an_attempt() -> None:
    assert not may_replace(State.STARTED, 0, State.RECEIVED, 0)
    assert may_replace(State.PROGRESS, 0, State.PROGRESS, 0)
    assert may_replace(None, 0, State.PENDING, 0)


def test_only_progress_repeats_within_an_attempt() -> None:
    assert not may_replace(State.STARTED, 1, State.STARTED, 1)
    assert not may_replace(State.RECEIVED, 0, State.RECEIVED, 0)
    assert may_replace(State.STARTED, 1, State.PROGRESS, 1)


def test_retry_ends_its_attempt() -> None:
    for new in State:
        assert not may_replace(State.RETRY, 1, new, 1), new
    assert may_replace(State.RETRY, 1, State.RECEIVED, 2)


def test_states_serialize_as_plain_strings() -> None:
    assert json.dumps({"s": State.SUCCESS}) == '{"s": "SUCCESS"}'


# --- settings ----------------------------------------------------------------


def test_unknown_setting_is_rejected_by_name() -> None:
    with pytest.raises(ConfigurationError, match="brokr_url"):
        Settings.load(env={}, brokr_url="kafka://x:1")


def test_unknown_env_setting_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="TASKQUEUE_"):
        Settings.load(env={"TASKQUEUE_CONCURENCY": "3"})


def test_settings_sources_and_types() -> None:
    class Obj:
        TASKQUEUE_PARTITIONS = 4

    s = Settings.load(
        env={
            "TASKQUEUE_CONCURRENCY": "7",
            "TASKQUEUE_PARTITIONS": "2",
            "TASKQUEUE_ALWAYS_EAGER": "yes",
        },
        settings_object=Obj(),
        topic_prefix="x.",
    )
    assert (s.concurrency, s.partitions, s.always_eager, s.topic_prefix) == (7, 4, True, "x.")
    assert s.topic("high") == "x.high"


def test_malformed_values_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="TASKQUEUE_PARTITIONS"):
        Settings.load(env={"TASKQUEUE_PARTITIONS": "many"})
    with pytest.raises(ConfigurationError, match="redis_url"):
        Settings.load(env={}, redis_url="http://localhost")
    with pytest.raises(ConfigurationError, match="pool"):
        Settings.load(env={}, pool="gevent")


def test_building_an_app_never_connects() -> None:
    app = TaskQueue(
        "x", env={}, broker="kafka://203.0.113.1:9", redis_url="redis://203.0.113.1:1/0"
    )
    assert app._transport is None and app._state is None


# --- message -------------------------------------------------------------------


def test_message_round_trip() -> None:
    m = Message(
        id="1",
        task="t",
        args=(1, "a"),
        kwargs={"k": [1]},
        retries=2,
        eta=5.0,
        callbacks=({"task": "c", "args": []},),
        headers={"h": 1},
    )
    assert Message.decode(m.encode()) == m


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1]",
        b'{"v":1}',
        b'{"v":1,"id":"x","task":"t","args":{},"kwargs":{}}',
        b'{"v":99,"id":"x","task":"t","args":[],"kwargs":{}}',
    ],
)
def test_malformed_messages_raise_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        Message.decode(body)


def test_message_too_large_has_a_clear_error() -> None:
    with pytest.raises(MessageTooLarge, match="max_message_bytes"):
        Message(id="1", task="t", args=("x" * 2000,)).encode(max_bytes=1000)


def test_unknown_fields_from_newer_senders_are_ignored() -> None:
    m = Message.decode(b'{"v":1,"id":"x","task":"t","args":[],"kwargs":{},"future":1}')
    assert m.id == "x"


# --- offsets -------------------------------------------------------------------


def test_out_of_order_completion_commits_only_contiguous_prefix() -> None:
    p = PartitionOffsets()
    for o in (10, 11, 12, 13):
        p.received(o)
    p.finished(12)
    p.finished(11)
    assert p.commit_position() is None  # 10 still running: nothing new
    p.finished(10)
    assert p.commit_position() == 13
    p.mark_committed(13)
    assert p.commit_position() is None
    p.finished(13)
    assert p.commit_position() == 14
    assert p.window == 0


def test_window_bound_reports_full_partitions() -> None:
    t = OffsetTracker(max_window=3)
    for o in range(3):
        t.received("a", 0, o)
    t.received("a", 1, 0)
    assert (t.window(("a", 0)), t.window(("a", 1)), t.window(("b", 0))) == (3, 1, 0)
    t.finished("a", 0, 0)
    assert t.window(("a", 0)) == 2
    assert t.committable() == {("a", 0): 1}


def test_rewind_resets_partition_tracking() -> None:
    p = PartitionOffsets()
    p.received(5)
    p.received(6)
    p.received(5)  # consumer rewound (e.g. after a seek)
    p.finished(5)
    assert p.commit_position() == 6


def test_ack_from_an_earlier_assignment_is_ignored() -> None:
    t = OffsetTracker(max_window=10)
    t.received("a", 0, 5)
    old = t.generation(("a", 0))
    t.forget([("a", 0)])  # revoked, then assigned again
    t.received("a", 0, 5)
    t.finished("a", 0, 5, generation=old)  # the old job finishing late
    assert t.committable() == {}
    t.finished("a", 0, 5, generation=t.generation(("a", 0)))
    assert t.committable() == {("a", 0): 6}


# --- middleware ------------------------------------------------------------------


class Recorder(Middleware):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_publish(self, message: Message) -> None:
        self.calls.append(f"before:{message.task}")

    def after_publish(self, message: Message) -> None:
        self.calls.append(f"after:{message.task}")


class Strict(Middleware):
    abort_on_error = True
    options = frozenset({"rate_limit"})

    def before_publish(self, message: Message) -> None:
        raise RuntimeError("refused")


def memory_app(*middleware: Middleware) -> TaskQueue:
    app = TaskQueue("m", env={}, broker="memory://", middleware=middleware)
    app.declare_topics(["default"])
    return app


def test_publish_hooks_run_around_publish() -> None:
    rec = Recorder()
    app = memory_app(rec)

    @app.task(name="m.t")
    def t() -> None: ...

    t.delay()
    assert rec.calls == ["before:m.t", "after:m.t"]


def test_aborting_middleware_stops_publish_and_others_do_not() -> None:
    app = memory_app(Strict())

    @app.task(name="m.t", rate_limit="1/s")  # option declared by Strict
    def t() -> None: ...

    with pytest.raises(RuntimeError, match="refused"):
        t.delay()
    assert app.transport.records("tq.default") == []  # type: ignore[attr-defined]


def test_unknown_task_option_names_itself() -> None:
    app = memory_app()
    # rate_limit is declared by the built-in policies; a misspelling is not.
    with pytest.raises(ConfigurationError, match="rate_limt"):
        app.task(rate_limt="1/s")


# --- eager and memory transport -----------------------------------------------------


def test_apply_runs_eagerly_with_request_and_retries() -> None:
    app = memory_app()

    @app.task(name="m.flaky", bind=True, max_retries=3)
    def flaky(self, n: int) -> int:  # type: ignore[no-untyped-def]
        if self.request.retries < n:
            raise self.retry(countdown=0)
        return self.request.retries

    assert flaky.apply((2,)).get() == 2


def test_apply_failure_is_reported_not_raised_until_get() -> None:
    app = memory_app()

    @app.task(name="m.boom", max_retries=0)
    def boom() -> None:
        raise KeyError("x")

    r = boom.apply()
    assert r.failed() and "KeyError" in (r.traceback or "")
    with pytest.raises(KeyError):
        r.get()


def test_always_eager_runs_on_apply_async() -> None:
    app = TaskQueue("e", env={}, broker="memory://", always_eager=True)

    @app.task(name="e.add")
    def add(x: int, y: int) -> int:
        return x + y

    assert add.delay(1, 2).get() == 3


def test_arguments_never_collide_with_options() -> None:
    app = memory_app()

    @app.task(name="m.opt")
    def opt(queue: str, countdown: int) -> None: ...

    opt.delay(queue="q", countdown=5)
    (record,) = app.transport.records("tq.default")  # type: ignore[attr-defined]
    m = Message.decode(record.value)
    assert m.kwargs == {"queue": "q", "countdown": 5} and m.eta is None and m.queue == "default"


def test_memory_consumer_commits_contiguous_acks() -> None:
    t = MemoryTransport()
    t.declare(["q"], 1, 1)
    for i in range(3):
        t.send("q", str(i).encode())
    c = t.consumer(["q"], "g", max_window=10)
    batch = c.poll(10, 0)
    assert [d.value for d in batch] == [b"0", b"1", b"2"]
    c.ack(batch[2])
    c.commit()
    assert t.group_positions["g"] == {}
    c.ack(batch[0])
    c.commit()
    assert t.group_positions["g"] == {("q", 0): 1}
    c.pause([("q", 0)])
    t.send("q", b"3")
    assert c.poll(10, 0) == []


# --- app loading ---------------------------------------------------------------------


def test_autodiscover_imports_task_modules_and_skips_missing_ones() -> None:
    app = memory_app()
    imported = app.autodiscover_tasks(["tests.taskqueue", "json"], related_name="tasks_app")
    assert imported == ["tests.taskqueue.tasks_app", "json"]


def test_load_app_finds_the_module_app() -> None:
    from taskqueue import load_app

    app = load_app("tests.taskqueue.tasks_app")
    assert "t.add" in app.tasks
    assert load_app("tests.taskqueue.tasks_app:app") is app
    with pytest.raises(ConfigurationError, match="tasks"):
        load_app("tests.taskqueue.tasks_app:tasks")


@pytest.mark.fast
def test_job_ids_are_random_version_4_uuids_in_their_usual_text_form() -> None:
    import uuid

    from taskqueue.message import new_id

    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == job_id
    # Every hex digit outside the fixed version and variant bits varies.
    free = [i for i in range(36) if i not in (8, 13, 14, 18, 19, 23)]
    assert all(len({job_id[i] for job_id in ids}) == 16 for i in free)
    assert {job_id[19] for job_id in ids} == set("89ab")
