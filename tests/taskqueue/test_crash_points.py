"""Crash points: the worker killed after every effect of a job's life.

For each scenario (a plain job, a retrying job, a chain, a chord, a beat
tick) a first run records the effects the dying worker makes: state
writes (RECEIVED, STARTED, final), chord counts, result-store writes,
records sent (follow-ups, retries, dead letters, tier hops) and offset
commits. Then, for every k, a fresh run kills a worker right after its
k-th effect, as SIGKILL would: from that instant none of its calls reaches
any store, its loop stops, its pool takes nothing new, and nothing is
committed or cleaned up. A second worker (another app on the same memory
transport and stores) then finishes the work.

After each kill the test asserts what the issue asks: no job lost (every
expected job ends in its state, with its result), no follow-up lost or
duplicated by id (the queue holds exactly the expected job ids), chord
callbacks and beat ticks fired once, and a body runs twice only if the
killed worker had started it and not stored its final state.

The same kills happen on the real services for what signals can reach: a
worker SIGKILLed under load in tests/reliability (lost 0, with its figures
in the README).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from taskqueue import TaskQueue, chain, chord
from taskqueue.beat import Beat, tick_job_id
from taskqueue.canvas import follow_up_id_for
from taskqueue.message import Message
from taskqueue.states import READY_STATES
from taskqueue.stores.state import StateUpdate
from taskqueue.transport.base import Consumer
from taskqueue.transport.memory import MemoryTransport
from taskqueue.worker.main import Worker

pytestmark = [
    pytest.mark.timeout(600),
    # The killed worker's threads end by WorkerKilled, as SIGKILL ends them.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


class WorkerKilled(BaseException):
    """Raised into a killed worker's threads: no handler of the worker's
    (they catch Exception) can swallow it, as none can catch SIGKILL."""


@dataclass
class Effect:
    what: str
    """``state``, ``chord``, ``result``, ``send`` or ``commit``."""
    jobs: tuple[str, ...] = ()
    finals: tuple[tuple[str, int], ...] = ()
    """(job, attempt) whose final state (or RETRY) this effect wrote."""


@dataclass
class KillSwitch:
    """Counts a worker's effects; after the ``kill_after``-th, every call
    of the worker into a store or the transport raises WorkerKilled."""

    kill_after: int | None = None
    effects: list[Effect] = field(default_factory=list)
    killed: threading.Event = field(default_factory=threading.Event)
    on_kill: list[Callable[[], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> None:
        if self.killed.is_set():
            raise WorkerKilled()

    def happened(self, effect: Effect) -> None:
        with self.lock:
            if self.killed.is_set():
                raise WorkerKilled()
            self.effects.append(effect)
            if self.kill_after is not None and len(self.effects) >= self.kill_after:
                self.killed.set()
                for stop in self.on_kill:
                    stop()


def _effect(name: str, args: tuple[Any, ...]) -> Effect | None:
    """The effect a call makes, if it is one the test kills after."""
    if name == "write_batch":
        updates: list[StateUpdate] = list(args[0])
        finals = tuple(
            (u.job_id, u.attempt) for u in updates if u.state in READY_STATES or u.state == "RETRY"
        )
        return Effect("state", tuple(u.job_id for u in updates), finals)
    if name == "chord_member_done":
        return Effect("chord", (str(args[0]),))
    if name == "write_checked":
        return Effect("result", tuple(str(d.get("_id")) for d in args[0]))
    if name == "send":
        return Effect("send")
    if name == "commit":
        return Effect("commit")
    return None


class Killable:
    """A worker's view of a store, transport or consumer that a KillSwitch
    can cut. Consumers it hands out are wrapped too."""

    def __init__(self, target: Any, switch: KillSwitch) -> None:
        self._target = target
        self._switch = switch

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value
        switch = self._switch

        def call(*args: Any, **kwargs: Any) -> Any:
            switch.check()
            effect = _effect(name, args)
            out = value(*args, **kwargs)
            if effect is not None:
                switch.happened(effect)  # killed right after it, if it is the k-th
            if isinstance(out, Consumer):
                return Killable(out, switch)
            return out

        return call


# --- the tasks, recording which app ran which attempt ---------------------------------

RUNS: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
"""key prefix -> (job id, attempt, app name) of every body that started."""


def register(app: TaskQueue) -> None:
    prefix = app.settings.key_prefix

    def record(task: Any) -> None:
        RUNS[prefix].append((task.request.id, task.request.retries, app.main))

    @app.task(name="crash.add", bind=True)
    def add(self: Any, x: int, y: int) -> int:
        record(self)
        return x + y

    @app.task(name="crash.total", bind=True)
    def total(self: Any, values: list[int]) -> int:
        record(self)
        return sum(values)

    @app.task(name="crash.flaky", bind=True, max_retries=1, default_retry_delay=0.2)
    def flaky(self: Any) -> None:
        record(self)
        raise self.retry(exc=RuntimeError("flaky fails"))


def make_app(
    main: str, name: str, transport: MemoryTransport | None = None, **settings: Any
) -> TaskQueue:
    app = TaskQueue(
        main,
        broker_url="memory://",
        redis_url="memory://",
        mongo_url="memory://",
        key_prefix=name,
        topic_prefix=f"{name}.",
        result_database=name,
        delay_tiers="0.2,1",
        partitions=1,
        control_enabled=False,
        metrics_port=0,
        heartbeat_interval=0.2,
        owner_lease=0.5,  # a killed worker's leases lapse quickly
        shutdown_grace=2,
        state_ttl=900,
        **settings,
    )
    if transport is not None:
        app.attach(transport=transport)  # the same memory "cluster" as the dead worker's
    register(app)
    app.declare_topics(["default"])
    return app


# --- one scenario: what is published, and what must hold at the end ------------------


@dataclass
class Scenario:
    name: str
    publish: Callable[[TaskQueue], dict[str, Any]]
    """Publishes the work; returns job id -> its expected (state, result)."""
    by_beat: bool = False


def _plain(app: TaskQueue) -> dict[str, Any]:
    job = app.tasks["crash.add"].apply_async((2, 3), task_id="plain")
    return {job.id: ("SUCCESS", 5)}


def _linked(app: TaskQueue) -> dict[str, Any]:
    add = app.tasks["crash.add"]
    add.apply_async((2, 3), task_id="linked", link=add.si(1, 1))  # the link gets no id
    return {"linked": ("SUCCESS", 5), follow_up_id_for("linked", 0, "link/0"): ("SUCCESS", 2)}


def _retrying(app: TaskQueue) -> dict[str, Any]:
    job = app.tasks["crash.flaky"].apply_async(task_id="flaky")
    return {job.id: ("FAILURE", None)}


def _chain(app: TaskQueue) -> dict[str, Any]:
    add = app.tasks["crash.add"]
    steps = [add.s(1, 1).set(task_id="c1"), add.s(10).set(task_id="c2")]
    chain(*steps, add.s(100).set(task_id="c3")).apply_async()
    return {"c1": ("SUCCESS", 2), "c2": ("SUCCESS", 12), "c3": ("SUCCESS", 112)}


def _chord(app: TaskQueue) -> dict[str, Any]:
    add, total = app.tasks["crash.add"], app.tasks["crash.total"]
    header = [add.s(i, i).set(task_id=f"m{i}") for i in range(3)]
    chord(header, total.s().set(task_id="callback")).apply_async()
    return {
        "m0": ("SUCCESS", 0),
        "m1": ("SUCCESS", 2),
        "m2": ("SUCCESS", 4),
        "callback": ("SUCCESS", 6),
    }


SCENARIOS = [
    Scenario("plain job", _plain),
    Scenario("job with a link", _linked),
    Scenario("retrying job", _retrying),
    Scenario("chain step", _chain),
    Scenario("chord member", _chord),
]


class Run:
    """One try of a scenario: a worker (or beat) killed after its k-th
    effect, then a second worker that finishes the work."""

    def __init__(self, scenario: Scenario, kill_after: int | None) -> None:
        self.name = f"crash-{uuid.uuid4().hex[:10]}"
        self.switch = KillSwitch(kill_after)
        self.first = make_app("first", self.name)
        transport = self.first.transport
        assert isinstance(transport, MemoryTransport)
        self.transport = transport
        self.scenario = scenario
        self.expected = scenario.publish(self.first)
        # From here on the first app is the worker that dies.
        self.first.attach(
            transport=Killable(transport, self.switch),  # type: ignore[arg-type]
            state=Killable(self.first.state, self.switch),  # type: ignore[arg-type]
            result_store=Killable(self.first.result_store, self.switch),  # type: ignore[arg-type]
        )

    def kill_first(self, until: Callable[[], bool], timeout: float = 20.0) -> None:
        """Run the first worker until it is killed, or until ``until`` holds."""
        worker = Worker(self.first, concurrency=2, name="w-first")
        self.switch.on_kill.append(lambda: _stop_pool(worker))
        done = threading.Event()

        def run() -> None:
            try:
                worker.run()
            except WorkerKilled:
                pass
            finally:
                done.set()

        threading.Thread(target=run, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not (self.switch.killed.is_set() or until()):
            assert time.monotonic() < deadline, "the first worker neither died nor finished"
            time.sleep(0.01)
        if not self.switch.killed.is_set():
            worker.stop()
        assert done.wait(30), "the first worker's loop did not end"

    def finish(self, until: Callable[[TaskQueue], bool], timeout: float = 30.0) -> TaskQueue:
        """A second worker, on the same transport and stores, until ``until``."""
        second = make_app("second", self.name, self.transport)
        worker = Worker(second, concurrency=2, name="w-second")
        ready = threading.Event()
        thread = threading.Thread(target=worker.run, kwargs={"ready": ready.set}, daemon=True)
        thread.start()
        assert ready.wait(30)
        try:
            deadline = time.monotonic() + timeout
            while not until(second):
                assert time.monotonic() < deadline, f"{self.scenario.name}: work never finished"
                time.sleep(0.02)
            time.sleep(0.3)  # a copy still on its way would run by now
        finally:
            worker.stop()
            thread.join(30)
        return second


def _stop_pool(worker: Worker) -> None:
    loop = worker.loop
    if loop is not None:
        loop.pool.shutdown(wait=False, cancel=True)


def _all_final(expected: dict[str, Any]) -> Callable[[TaskQueue], bool]:
    def check(app: TaskQueue) -> bool:
        states = app.state.read_states(list(expected))
        return all(s == want[0] for s, want in zip(states, expected.values(), strict=True))

    return check


def _queue_ids(run: Run, app: TaskQueue) -> set[str]:
    records = run.transport.records(app.settings.topic("default"))
    return {Message.decode(r.value or b"").id for r in records}


def _assert_invariants(run: Run, second: TaskQueue) -> None:
    expected = run.expected
    prefix = run.first.settings.key_prefix
    # No job lost: each ended as it must, with its result.
    for job_id, (state, result) in expected.items():
        got = second.AsyncResult(job_id)
        assert got.state == state, f"{job_id}: {got.state}, not {state}"
        if state == "SUCCESS":
            assert got.result == result, f"{job_id}: result {got.result!r}"
    # No follow-up lost or duplicated by id: the queue holds exactly these jobs.
    assert _queue_ids(run, second) == set(expected), "follow-ups by id"
    # A body ran twice only if the dead worker had started it and not stored its end.
    before_kill = run.switch.effects
    ended_first = {j for e in before_kill for j in e.finals}
    runs = Counter((job, attempt) for job, attempt, _ in RUNS[prefix])
    started_first = {(job, attempt) for job, attempt, app in RUNS[prefix] if app == "first"}
    for key, count in runs.items():
        allowed = 2 if key in started_first and key not in ended_first else 1
        assert count <= allowed, f"{key} ran {count} times (allowed {allowed})"


def _effects_of(scenario: Scenario) -> int:
    """How many effects a worker makes finishing the scenario alone."""
    run = Run(scenario, kill_after=None)
    run.kill_first(lambda: _all_final(run.expected)(run.first))
    time.sleep(0.3)
    return len(run.switch.effects)


@pytest.fixture(params=SCENARIOS, ids=lambda s: s.name)
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    yield request.param


def test_a_worker_killed_after_any_effect_loses_and_duplicates_nothing(
    scenario: Scenario,
) -> None:
    total = _effects_of(scenario)
    assert total >= 4, f"{scenario.name}: only {total} effects recorded"
    for k in range(1, total + 1):
        run = Run(scenario, kill_after=k)
        run.kill_first(lambda run=run: _all_final(run.expected)(run.first))  # type: ignore[misc]
        second = run.finish(_all_final(run.expected))
        try:
            _assert_invariants(run, second)
        except AssertionError as exc:
            kinds = [e.what for e in run.switch.effects]
            raise AssertionError(f"killed after effect {k} of {total} {kinds}: {exc}") from exc


# --- beat ticks -------------------------------------------------------------------------

BEAT_STEPS = ("claim_beat_tick", "send", "finish_beat_tick")
"""A tick's effects, in order: claimed pending, published, marked done."""


class BeatSteps(Killable):
    """A beat's store or transport that kills it right after its k-th step."""

    def __init__(self, target: Any, switch: KillSwitch, steps: list[str]) -> None:
        super().__init__(target, switch)
        self._steps = steps

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        if name not in BEAT_STEPS:
            return value
        switch, steps = self._switch, self._steps

        def step(*args: Any, **kwargs: Any) -> Any:
            out = value(*args, **kwargs)
            steps.append(name)
            if switch.kill_after is not None and len(steps) >= switch.kill_after:
                switch.killed.set()
            return out

        return step


def _beat(app: TaskQueue, name: str) -> Beat:
    app.beat_schedule = {"tick": {"task": "crash.add", "schedule": 60.0, "args": (7, 7)}}
    return Beat(app, name=name)


@pytest.mark.parametrize("kill_after", range(1, len(BEAT_STEPS) + 1))
def test_a_beat_killed_after_any_step_of_a_tick_neither_loses_nor_repeats_it(
    kill_after: int,
) -> None:
    # No result expiry: no built-in cleanup entry, only the tick under test.
    beat_settings = {"beat_lock_ttl": 0.3, "publish_timeout": 1.0, "result_expires": 0}
    name = f"crash-{uuid.uuid4().hex[:10]}"
    first = make_app("first", name, **beat_settings)
    transport = first.transport
    assert isinstance(transport, MemoryTransport)
    switch, steps = KillSwitch(kill_after), []
    first.attach(
        transport=BeatSteps(transport, switch, steps),  # type: ignore[arg-type]
        state=BeatSteps(first.state, switch, steps),  # type: ignore[arg-type]
    )
    dying = _beat(first, "b-first")
    now = time.time()
    assert dying._lead()
    with pytest.raises(WorkerKilled):
        dying.tick(now)
        dying.tick(now)  # a beat that finished its tick dies at its next call
    assert steps == list(BEAT_STEPS[:kill_after])

    # Its lock and its pending claim lapse; another beat leads and fires.
    second = make_app("second", name, transport, **beat_settings)
    other = _beat(second, "b-second")
    tick = other.entries()[0].last_tick(now)
    deadline = time.monotonic() + 30
    while second.state.beat_last_tick("tick") != tick:
        assert time.monotonic() < deadline, f"killed after {steps}: the tick never completed"
        if other._lead():
            other.tick(now)
        time.sleep(0.05)
    records = transport.records(second.settings.topic("default"))
    ids = {Message.decode(r.value or b"").id for r in records}
    assert ids == {tick_job_id("tick", tick)}, f"killed after {steps}: ticks {ids}"
