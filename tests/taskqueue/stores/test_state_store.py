"""The StateStore contract, held by both implementations (memory and Redis).

Each test runs twice: against the in-memory store (fast tier, a fake clock)
and against the real Redis of the local stack (a unique key prefix, real
time). Time-dependent behaviour (TTLs, token refill) is driven through
``advance``: the fake clock moves, or the test sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from taskqueue.stores.state import (
    APPLIED,
    LEASED,
    OUTRANKED,
    SUPERSEDED,
    RevocationNotice,
    StateStore,
    StateUpdate,
    WorkerHeartbeat,
    create_state_store,
    encode_event,
    event_job_id,
)
from taskqueue.stores.state_memory import MemoryStateStore
from taskqueue.stores.state_redis import RedisStateStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Subject:
    store: StateStore
    advance: Callable[[float], None]
    with_ttl: Callable[[int], StateStore]
    """Another store on the same data and clock whose job states live ``ttl`` s."""


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.fast), "redis"])
def subject(request: pytest.FixtureRequest, unique_name: str) -> Iterator[Subject]:
    if request.param == "memory":
        clock = FakeClock()

        def advance(seconds: float) -> None:
            clock.now += seconds

        memory = MemoryStateStore("memory://", unique_name, 60, clock=clock)

        def memory_with_ttl(ttl: int) -> StateStore:
            memory.ttl = ttl  # one store: the memory store's data is its own
            return memory

        yield Subject(memory, advance, memory_with_ttl)
        return
    import time

    redis_url = request.getfixturevalue("redis_url")
    store = create_state_store(redis_url, unique_name, 60)
    others: list[StateStore] = []

    def redis_with_ttl(ttl: int) -> StateStore:
        others.append(create_state_store(redis_url, unique_name, ttl))
        return others[-1]

    try:
        yield Subject(store, time.sleep, redis_with_ttl)
    finally:
        for each in [store, *others]:
            each.close()


def started(job: str, attempt: int = 0) -> StateUpdate:
    return StateUpdate(job, "STARTED", attempt, task="t.x", worker="w1")


# --- the precedence rule ------------------------------------------------------------
def test_a_final_state_is_never_replaced(subject: Subject) -> None:
    store = subject.store
    assert store.write(StateUpdate("j", "SUCCESS", 0, payload=42))[0] == APPLIED
    for late in ("STARTED", "FAILURE", "RETRY"):
        assert store.write(StateUpdate("j", late, 0)) == (SUPERSEDED, "SUCCESS", "0")
    assert store.write(StateUpdate("j", "RECEIVED", 1)) == (SUPERSEDED, "SUCCESS", "0")
    assert store.read("j")["state"] == "SUCCESS"
    assert json.loads(store.read("j")["payload"]) == 42


def test_an_older_attempt_is_refused_and_a_newer_one_replaces(subject: Subject) -> None:
    store = subject.store
    store.write(StateUpdate("j", "RETRY", 1))
    assert store.write(StateUpdate("j", "PROGRESS", 0)) == (SUPERSEDED, "RETRY", "1")
    assert store.write(StateUpdate("j", "RECEIVED", 2))[0] == APPLIED
    assert store.read("j")["attempt"] == "2"


def test_retry_ends_its_attempt(subject: Subject) -> None:
    """A redelivered copy of an attempt that ended in RETRY is refused like a
    final one: running it again would publish a second next attempt."""
    store = subject.store
    store.write(StateUpdate("j", "RETRY", 1))
    for late in ("RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY"):
        assert store.write(StateUpdate("j", late, 1)) == (SUPERSEDED, "RETRY", "1"), late
    assert store.write(StateUpdate("j", "RECEIVED", 2))[0] == APPLIED


def test_within_an_attempt_the_rank_only_goes_up_and_only_progress_repeats(
    subject: Subject,
) -> None:
    store = subject.store
    answers = store.write_batch(
        [
            StateUpdate("j", "RECEIVED", 0, queue="default"),
            started("j"),
            started("j"),
            StateUpdate("j", "RECEIVED", 0),
            StateUpdate("j", "PROGRESS", 0, payload={"current": 1}),
            StateUpdate("j", "PROGRESS", 0, payload={"current": 2}),
        ]
    )
    assert [a[0] for a in answers] == [APPLIED, APPLIED, OUTRANKED, OUTRANKED, APPLIED, APPLIED]
    assert answers[0] == (APPLIED, "", "")
    assert answers[2] == (OUTRANKED, "STARTED", "0")
    record = store.read("j")
    # Fields a later update leaves out are kept (worker, queue).
    assert record["state"] == "PROGRESS" and record["worker"] == "w1"
    assert record["queue"] == "default" and json.loads(record["payload"]) == {"current": 2}


def test_reads_many_states_and_forgets(subject: Subject) -> None:
    store = subject.store
    store.write_batch([started("a"), StateUpdate("b", "SUCCESS", 0)])
    assert [r.get("state") for r in store.read_many(["a", "b", "c"])] == [
        "STARTED",
        "SUCCESS",
        None,
    ]
    assert store.read_states(["a", "b", "c"]) == ["STARTED", "SUCCESS", None]
    store.forget("a")
    assert store.read("a") == {}


def test_a_foreign_key_in_a_jobs_place_reads_as_no_state_and_is_replaced(
    redis_url: str, unique_name: str
) -> None:
    """Redis only (the memory store holds nothing but records): a key of
    another type where a job's hash belongs fails neither its reads nor a
    batch of writes, where it would fail every job of the batch, again on
    every worker the batch is redelivered to."""
    store = RedisStateStore(redis_url, unique_name, 60)
    try:
        store.client.set(store.job_key("odd"), "not a hash")
        assert store.read_states(["odd", "j"]) == [None, None]
        assert store.read_many(["odd"]) == [{}] and store.read("odd") == {}
        answers = store.write_batch([started("j"), started("odd")])
        assert [code for code, _, _ in answers] == [APPLIED, APPLIED]
        assert store.read_states(["odd", "j"]) == ["STARTED", "STARTED"]
    finally:
        store.close()


def test_job_state_expires_after_the_ttl(subject: Subject) -> None:
    store = subject.store
    store.write(started("j"))
    if isinstance(store, RedisStateStore):
        # A minute is too long to wait for: Redis's own TTL is the proof.
        assert 0 < store.client.ttl(store.job_key("j")) <= 60
        return
    subject.advance(59)
    store.write(StateUpdate("j", "PROGRESS", 0))  # an applied write renews the TTL
    subject.advance(59)
    assert store.read("j")["state"] == "PROGRESS"
    subject.advance(2)
    assert store.read("j") == {}


# --- events ------------------------------------------------------------------
def test_events_are_published_only_for_applied_writes(subject: Subject) -> None:
    store = subject.store
    with store.subscribe_events() as events:
        store.write_batch([started("j"), started("j")])
        store.write(StateUpdate("j", "PROGRESS", 0, payload={"n": 1}), publish=False)
        store.write(StateUpdate("j", "SUCCESS", 0, payload=[1, "x"]))
        store.write(StateUpdate("j", "FAILURE", 0))
        seen = []
        while (raw := events.get(timeout=1.0)) is not None:
            seen.append(raw)
    decoded = [json.loads(r) for r in seen]
    assert [e["state"] for e in decoded] == ["STARTED", "SUCCESS"]
    assert decoded[1]["payload"] == [1, "x"] and decoded[1]["attempt"] == 0
    assert decoded[0]["task"] == "t.x" and decoded[0]["payload"] is None
    assert all(event_job_id(r) == "j" for r in seen)


def test_the_memory_event_text_is_the_redis_event_text(subject: Subject) -> None:
    """Two builders of one format: the Redis script and ``encode_event``."""
    update = StateUpdate("j-1", "PROGRESS", 3, task="t.y", payload={"a": [1, 2]})
    with subject.store.subscribe_events() as events:
        subject.store.write(update)
        raw = events.get(timeout=5.0)
    assert raw is not None
    ts = json.loads(raw)["ts"]
    assert json.loads(raw) == json.loads(encode_event(update, repr(ts)))
    assert raw.startswith(b'{"id":"j-1",')


def test_the_async_event_stream_delivers_in_order(subject: Subject) -> None:
    store = subject.store

    async def follow() -> list[int]:
        stream = await store.open_event_stream()
        got: list[int] = []
        try:
            writer = threading.Thread(
                target=lambda: [
                    store.write(StateUpdate("j", "PROGRESS", 0, payload={"i": i})) for i in range(5)
                ]
            )
            writer.start()
            async for raw in stream:
                got.append(json.loads(raw)["payload"]["i"])
                if len(got) == 5:
                    break
            writer.join()
        finally:
            await stream.aclose()
        return got

    assert asyncio.run(asyncio.wait_for(follow(), 30)) == [0, 1, 2, 3, 4]


# --- heartbeats ------------------------------------------------------------------
def test_heartbeats_are_listed_merged_and_expire(subject: Subject) -> None:
    store = subject.store
    store.announce_worker("w1", WorkerHeartbeat(pid=7, queues="default,high"), ttl=1)
    store.announce_worker("w1", WorkerHeartbeat(grpc="127.0.0.1:1"), ttl=1)
    store.heartbeat("w2", {"pid": 8}, ttl=30)
    live = store.live_workers()
    assert live["w1"] == {"pid": "7", "queues": "default,high", "grpc": "127.0.0.1:1"}
    assert set(live) == {"w1", "w2"}
    subject.advance(2.2)
    assert set(store.live_workers()) == {"w2"}
    store.remove_worker("w2")
    assert store.workers() == {}


def test_heartbeat_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="colour"):
        WorkerHeartbeat.from_mapping({"colour": "red"})


# --- revocations ------------------------------------------------------------------
def test_revocations_are_active_until_they_expire_and_are_fed(subject: Subject) -> None:
    store = subject.store
    with store.subscribe_revocations() as feed:
        store.add_revocation("j1", terminate=True, ttl=1)
        store.add_revocation("j2", terminate=False, ttl=60)
        assert feed.get(timeout=5) == RevocationNotice("j1", True, 1)
        assert feed.get(timeout=5) == RevocationNotice("j2", False, 60)
    assert set(store.active_revocations()) == {"j1", "j2"}
    subject.advance(1.5)
    assert set(store.active_revocations()) == {"j2"}


def test_a_shorter_revocation_never_shortens_a_longer_one(subject: Subject) -> None:
    store = subject.store
    store.add_revocation("long", terminate=False, ttl=60)
    store.add_revocation("long", terminate=False, ttl=1)  # revoked again, briefly
    store.add_revocation("brief", terminate=False, ttl=1)  # nor does another id's
    subject.advance(1.5)
    assert set(store.active_revocations()) == {"long"}


def test_a_due_time_is_noted_for_its_ttl(subject: Subject) -> None:
    store = subject.store
    store.remember_due("j", 1_900_000_000.25, ttl=1)
    assert store.due_of("j") == 1_900_000_000.25
    assert store.due_of("other") is None
    subject.advance(1.5)
    assert store.due_of("j") is None


def test_a_kept_state_outlives_the_state_ttl_and_is_never_shortened(subject: Subject) -> None:
    store = subject.with_ttl(1)
    store.write(StateUpdate("kept", "REVOKED", 0, payload={"exc_type": "Revoked"}))
    store.write(StateUpdate("plain", "REVOKED", 0, payload={"exc_type": "Revoked"}))
    store.keep_state("kept", 60)
    store.keep_state("kept", 1)  # a shorter keep changes nothing
    subject.advance(1.5)
    assert store.read("kept")["state"] == "REVOKED"
    assert store.read("plain") == {}


# --- rate limits ------------------------------------------------------------------------
def test_a_token_bucket_denies_past_the_rate_and_refills(subject: Subject) -> None:
    store = subject.store
    waits = store.take_tokens([("t.limited", 2.0)] * 3 + [("t.free", 0.0)])
    assert waits[:2] == [0.0, 0.0] and waits[3] == 0.0
    assert 0 < waits[2] <= 0.5
    subject.advance(0.6)
    assert store.take_tokens([("t.limited", 2.0)]) == [0.0]


def test_a_rate_override_replaces_the_declared_rate_until_cleared(subject: Subject) -> None:
    store = subject.store
    store.set_rate_override("t.o", 1.0)
    assert store.rate_overrides() == {"t.o": 1.0}
    waits = store.take_tokens([("t.o", 100.0), ("t.o", 100.0)])
    assert waits[0] == 0.0 and waits[1] > 0.5
    store.set_rate_override("t.o", None)
    assert store.rate_overrides() == {}


# --- idempotency ------------------------------------------------------------------
def test_an_idempotency_claim_is_exclusive_and_released_only_by_its_owner(
    subject: Subject,
) -> None:
    store = subject.store
    assert store.claim_idempotency("order-1", "job-a", ttl=60) is None
    assert store.claim_idempotency("order-1", "job-b", ttl=60) == "job-a"
    assert store.release_idempotency("order-1", "job-b") is False
    assert store.claim_idempotency("order-1", "job-c", ttl=60) == "job-a"
    assert store.release_idempotency("order-1", "job-a") is True
    assert store.claim_idempotency("order-1", "job-c", ttl=60) is None


def test_an_idempotency_claim_expires(subject: Subject) -> None:
    store = subject.store
    store.claim_idempotency("k", "job-a", ttl=1)
    subject.advance(1.5)
    assert store.claim_idempotency("k", "job-b", ttl=1) is None


# --- process-pool child deaths ---------------------------------------------------
def test_child_deaths_are_counted_per_attempt_and_forgotten_after_the_ttl(
    subject: Subject,
) -> None:
    store = subject.store
    assert [store.count_child_death("job-a", 0, ttl=1) for _ in range(3)] == [1, 2, 3]
    assert store.count_child_death("job-a", 1, ttl=1) == 1  # a new attempt starts over
    assert store.count_child_death("job-b", 0, ttl=1) == 1
    subject.advance(1.5)
    assert store.count_child_death("job-a", 0, ttl=1) == 1


# --- chords ------------------------------------------------------------------
def test_a_chord_completes_with_results_in_order_and_tells_every_later_copy(
    subject: Subject,
) -> None:
    store = subject.store
    assert store.chord_member_done("c", 1, '"b"', 3, ttl=60) is None
    assert store.chord_member_done("c", 1, '"again"', 3, ttl=60) is None  # redelivered
    assert store.chord_member_done("c", 0, '"a"', 3, ttl=60) is None
    assert store.chord_member_done("c", 2, '"c"', 3, ttl=60) == ['"a"', '"b"', '"c"']
    # A member run again (its worker died before the callback was in Kafka)
    # is told too, and sends the callback again under its fixed id.
    assert store.chord_member_done("c", 0, '"a2"', 3, ttl=60) == ['"a"', '"b"', '"c"']


def test_of_concurrent_chord_members_only_the_last_completes_the_chord(
    subject: Subject,
) -> None:
    store = subject.store
    results: list[list[str] | None] = []
    lock = threading.Lock()

    def member(i: int) -> None:
        out = store.chord_member_done("race", i, str(i), 8, ttl=60)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=member, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fired = [r for r in results if r is not None]
    assert fired == [[str(i) for i in range(8)]]


# --- beat ------------------------------------------------------------------
def test_the_beat_lock_is_exclusive_renewed_by_its_holder_and_handed_over(
    subject: Subject,
) -> None:
    store = subject.store
    assert store.acquire_beat_lock("a", ttl=1)
    assert not store.acquire_beat_lock("b", ttl=1)
    assert not store.renew_beat_lock("b", ttl=1)
    subject.advance(0.6)
    assert store.renew_beat_lock("a", ttl=1)
    subject.advance(0.6)
    assert not store.acquire_beat_lock("b", ttl=1)  # renewed: still a's
    subject.advance(0.6)
    assert store.acquire_beat_lock("b", ttl=1)  # a's lock expired
    store.release_beat_lock("a")  # not a's any more: nothing happens
    assert not store.acquire_beat_lock("c", ttl=1)
    store.release_beat_lock("b")
    assert store.acquire_beat_lock("c", ttl=1)


def test_a_beat_tick_is_claimed_pending_then_done_and_never_claimed_again(
    subject: Subject,
) -> None:
    store = subject.store
    assert store.beat_last_tick("e") is None
    assert store.claim_beat_tick("e", 120.0, "beat-1", lease=60) == 120.0
    assert store.claim_beat_tick("e", 120.0, "beat-2", lease=60) is None  # beat-1's lease
    assert store.claim_beat_tick("e", 150.0, "beat-2", lease=60) is None  # newer ones wait too
    assert store.claim_beat_tick("e", 150.0, "beat-1", lease=60) == 120.0  # its owner retries it
    assert store.beat_last_tick("e") is None, "a pending tick is not the last tick"
    store.finish_beat_tick("e", 120.0)
    assert store.beat_last_tick("e") == 120.0
    for owner in ("beat-1", "beat-2"):
        assert store.claim_beat_tick("e", 120.0, owner, lease=60) is None  # done: never again
        assert store.claim_beat_tick("e", 90.0, owner, lease=60) is None  # nor an older one
    assert store.claim_beat_tick("e", 150.0, "beat-2", lease=60) == 150.0
    assert store.beat_last_tick("e") == 120.0, "the claim keeps the last done tick"
    store.finish_beat_tick("e", 120.0)  # a late finisher never moves the entry back
    assert store.claim_beat_tick("e", 150.0, "beat-1", lease=60) is None  # still beat-2's
    store.set_beat_last_tick("e", 150.0)  # the older name of finish_beat_tick
    assert store.beat_last_tick("e") == 150.0
    assert store.beat_last_tick("other") is None


def test_a_pending_tick_whose_lease_expired_goes_to_the_next_claimant_before_newer_ones(
    subject: Subject,
) -> None:
    """A leader that died between claim and publish: the next one publishes
    that tick (same id), then the newer one."""
    store = subject.store
    store.finish_beat_tick("e", 60.0)
    assert store.claim_beat_tick("e", 120.0, "dead", lease=0.5) == 120.0
    assert store.claim_beat_tick("e", 180.0, "beat-2", lease=60) is None  # lease runs
    subject.advance(0.6)
    assert store.claim_beat_tick("e", 180.0, "beat-2", lease=60) == 120.0
    assert store.claim_beat_tick("e", 180.0, "dead", lease=60) is None, "beat-2's now"
    assert store.beat_last_tick("e") == 60.0
    store.finish_beat_tick("e", 120.0)
    assert store.claim_beat_tick("e", 180.0, "beat-2", lease=60) == 180.0


def test_concurrent_claims_of_one_beat_tick_give_it_to_exactly_one_owner(
    subject: Subject,
) -> None:
    store = subject.store
    start = threading.Barrier(8)
    won: list[str] = []

    def leader(owner: str) -> None:
        start.wait()
        if store.claim_beat_tick("e", 120.0, owner, lease=60) is not None:
            won.append(owner)

    threads = [threading.Thread(target=leader, args=(f"beat-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1, won


# --- selection ------------------------------------------------------------------
@pytest.mark.fast
def test_memory_urls_share_one_store_per_url_and_prefix() -> None:
    a = create_state_store("memory://", "shared-test", 60)
    b = create_state_store("memory://", "shared-test", 60)
    other = create_state_store("memory://", "other-test", 60)
    assert a is b and a is not other
    a.write(started("j"))
    assert b.read("j")["state"] == "STARTED" and other.read("j") == {}


def test_a_claim_is_replaced_only_by_its_holder(subject: Subject) -> None:
    store = subject.store
    assert store.claim_idempotency("order-2", "pending:job-a", ttl=1) is None
    assert store.replace_idempotency("order-2", "pending:job-b", "job-b", ttl=60) is False
    assert store.replace_idempotency("order-2", "pending:job-a", "job-a", ttl=60) is True
    subject.advance(1.5)  # past the pending claim's TTL: the replacement has its own
    assert store.claim_idempotency("order-2", "pending:job-c", ttl=60) == "job-a"


# --- owner leases ------------------------------------------------------------------
def received(job: str, worker: str, attempt: int = 0) -> StateUpdate:
    return StateUpdate(job, "RECEIVED", attempt, task="t.x", worker=worker)


def test_a_live_owner_lease_makes_another_workers_copy_wait(subject: Subject) -> None:
    store = subject.store
    assert store.write_batch([received("j", "w1")], lease=1)[0][0] == APPLIED
    store.write(StateUpdate("j", "STARTED", 0, worker="w1"))
    assert store.write_batch([received("j", "w2")], lease=1)[0][0] == LEASED
    assert store.write_batch([received("j", "w1")], lease=1)[0][0] == OUTRANKED  # its own
    assert store.write(received("j", "w2"))[0] == OUTRANKED  # no lease asked: no check
    assert store.write_batch([received("j", "w2", attempt=1)], lease=1)[0][0] == APPLIED


def test_a_lapsed_lease_lets_another_worker_take_the_attempt_over(subject: Subject) -> None:
    store = subject.store
    store.write_batch([received("j", "w1")], lease=1)
    store.write(StateUpdate("j", "STARTED", 0, worker="w1"))
    subject.advance(1.5)  # w1 died: nothing renewed its lease
    assert store.write_batch([received("j", "w2")], lease=1)[0][0] == OUTRANKED
    assert store.read("j")["owner"] == "w2"
    assert store.write_batch([received("j", "w1")], lease=1)[0][0] == LEASED  # w2's now


def test_leases_are_renewed_and_released_only_by_their_owner(subject: Subject) -> None:
    store = subject.store
    store.write_batch([received("a", "w1"), received("b", "w1")], lease=1)
    subject.advance(0.6)
    store.renew_leases(["a", "b"], "w1", 2)
    store.renew_leases(["a"], "w2", 0.001)  # not w2's: unchanged
    subject.advance(0.6)  # past the first lease, within the renewed one
    assert store.write_batch([received("a", "w2")], lease=1)[0][0] == LEASED
    store.release_leases(["b"], "w1")
    assert store.write_batch([received("b", "w2")], lease=1)[0][0] == OUTRANKED


def test_a_final_job_is_superseded_not_leased(subject: Subject) -> None:
    store = subject.store
    store.write_batch([received("j", "w1")], lease=60)
    store.write(StateUpdate("j", "SUCCESS", 0, payload=1))
    assert store.write_batch([received("j", "w2")], lease=60)[0][0] == SUPERSEDED


def test_a_lease_field_this_store_did_not_write_holds_nothing(subject: Subject) -> None:
    store = subject.store
    store.write_batch([received("j", "w1")], lease=60)
    if isinstance(store, MemoryStateStore):
        store._jobs.get("j")["lease"] = "garbage"  # type: ignore[index]
    else:
        store.client.hset(store.keys.job("j"), "lease", "garbage")  # type: ignore[attr-defined]
    assert store.write_batch([received("j", "w2")], lease=60)[0][0] == OUTRANKED
