"""Beat: crontab arithmetic, and the tick lifecycle (claim pending, publish
under the tick's fixed id, mark done) on the in-memory twins (fast tier) and
on real Redis and Kafka; two beat processes fire each tick once, and the
survivor takes over when the leader is killed."""

from __future__ import annotations

import calendar
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.beat import Beat, CodeSchedule, Crontab, Entry, crontab, tick_job_id
from taskqueue.exceptions import ConfigurationError, PublishError
from taskqueue.stores.state import StateStoreUnavailable

from .conftest import ROOT, wait_for
from .policy_app import APP

pytestmark = pytest.mark.timeout(180)

FIRED = re.compile(r"beat fired every-second tick ([0-9.]+)")


def start_beat(env: dict[str, str], log: Path, name: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "taskqueue", "beat", "-A", APP, "--name", name],
            cwd=ROOT,
            env={**os.environ, **env, "TASKQUEUE_BEAT_LOCK_TTL": "2", "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def beats(tq_env: dict[str, str], tmp_path: Path, app: TaskQueue) -> Iterator[list]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        started.append((start_beat(tq_env, log, name), log))
        return started[-1]

    yield [start]
    for proc, _ in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def ticks(log: Path) -> list[float]:
    return [float(t) for t in FIRED.findall(log.read_text())]


def test_two_beats_fire_each_tick_once_and_the_survivor_takes_over(beats: list) -> None:
    [start] = beats
    (a, log_a), (b, log_b) = start("a"), start("b")
    wait_for(lambda: len(ticks(log_a)) + len(ticks(log_b)) >= 3, 60)
    leader, leader_log, other_log = (a, log_a, log_b) if ticks(log_a) else (b, log_b, log_a)
    assert ticks(other_log) == []  # only the leader fires
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    before = len(ticks(other_log))
    wait_for(lambda: len(ticks(other_log)) >= before + 3, 60)
    fired = ticks(leader_log) + ticks(other_log)
    assert len(fired) == len(set(fired)), "a tick fired twice"
    assert "is now the leader" in other_log.read_text()


# --- crontab arithmetic (no service involved) -----------------------------------
def utc(*fields: int) -> float:
    """Epoch seconds of a UTC (year, month, day, hour, minute)."""
    return float(calendar.timegm((*fields, 0)))


@pytest.mark.fast
def test_crontab_parses_and_matches() -> None:
    every_quarter = Crontab("*/15 9-17 * * 1-5")
    monday_0915 = 1_700_471_700.0  # 2023-11-20 09:15 UTC, a Monday
    assert every_quarter.matches(monday_0915)
    assert not every_quarter.matches(monday_0915 + 60)
    assert every_quarter.last_tick(monday_0915 + 600) == monday_0915
    with pytest.raises(ValueError):
        Crontab("61 * * * *")


@pytest.mark.fast
def test_day_of_month_and_day_of_week_combine_with_or_when_both_are_restricted() -> None:
    noon_on_1st_15th_or_monday = Crontab("0 12 1,15 * 1")
    assert noon_on_1st_15th_or_monday.matches(utc(2024, 1, 8, 12, 0))  # a Monday, the 8th
    assert noon_on_1st_15th_or_monday.matches(utc(2024, 1, 15, 12, 0))  # the 15th
    assert not noon_on_1st_15th_or_monday.matches(utc(2024, 1, 10, 12, 0))  # Wednesday 10th
    assert noon_on_1st_15th_or_monday.last_tick(utc(2024, 1, 10, 13, 0)) == utc(2024, 1, 8, 12, 0)
    # One field '*': only the other one applies.
    assert Crontab("0 12 * * 1").last_tick(utc(2024, 1, 16, 0, 0)) == utc(2024, 1, 15, 12, 0)
    assert Crontab("0 12 13 * *").last_tick(utc(2024, 1, 16, 0, 0)) == utc(2024, 1, 13, 12, 0)
    # 7 is Sunday too, as in cron.
    assert Crontab("0 0 * * 7").last_tick(utc(2024, 1, 10, 0, 0)) == utc(2024, 1, 7, 0, 0)


@pytest.mark.fast
def test_a_leap_day_crontab_finds_the_last_leap_day_years_back() -> None:
    leap_day = Crontab("0 0 29 2 *")
    assert leap_day.last_tick(utc(2025, 6, 1, 0, 0)) == utc(2024, 2, 29, 0, 0)
    assert leap_day.last_tick(utc(2024, 2, 29, 0, 0) + 59) == utc(2024, 2, 29, 0, 0)
    assert leap_day.last_tick(utc(2024, 2, 28, 23, 59)) == utc(2020, 2, 29, 0, 0)
    # 2100 is no leap year: from 2103 the previous 29 February is 2096's.
    assert leap_day.last_tick(utc(2103, 12, 31, 23, 59)) == utc(2096, 2, 29, 0, 0)


@pytest.mark.fast
def test_last_tick_is_the_latest_matching_minute_at_or_before_now() -> None:
    """The computed answer equals a minute-by-minute walk back (the definition)."""
    expressions = ["*/7 */5 * * *", "30 23 31 * *", "10-20/3 1,22 10-12 3,9 2-4", "0 0 */2 * 5"]
    for expression in expressions:
        schedule = Crontab(expression)
        for now in (utc(2023, 3, 1, 0, 0), utc(2024, 12, 11, 22, 59) + 30, utc(2025, 10, 12, 1, 5)):
            minute = now - now % 60
            while not schedule.matches(minute):
                minute -= 60
            assert schedule.last_tick(now) == minute, (expression, now)


@pytest.mark.fast
@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("0 0 31 2 *", "February has no day 31"),
        ("0 0 30,31 2 *", "February has no day 30 or 31"),
        ("0 0 31 4,6 *", "April and June have no day 31"),
    ],
)
def test_an_impossible_crontab_is_refused_with_the_reason(expression: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Crontab(expression)
    assert expression in str(refused.value) and why in str(refused.value)


@pytest.mark.fast
def test_a_day_that_exists_in_one_of_the_months_or_a_weekday_makes_it_possible() -> None:
    Crontab("0 0 31 2,3 *")  # March has a 31st
    Crontab("0 0 31 2 1")  # OR: every Monday in February
    assert crontab is Crontab, "Celery's spelling"


# --- the tick lifecycle, on the in-memory twins and on the real services ----------
YEARLY = "0 0 1 1 *"
"""Due all year at the same tick: a test never straddles two ticks."""


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.fast), "real"])
def beat_app(request: pytest.FixtureRequest, unique_name: str) -> Iterator[TaskQueue]:
    names = {"key_prefix": unique_name, "topic_prefix": f"{unique_name}.", "partitions": 1}
    # No result store: beat only publishes (and no built-in cleanup entry).
    quiet = {"results_enabled": False, "control_enabled": False}
    if request.param == "memory":
        app = TaskQueue("beat", broker_url="memory://", redis_url="memory://", **names, **quiet)
    else:
        app = TaskQueue(
            "beat",
            broker_url=f"kafka://{request.getfixturevalue('kafka_bootstrap')}",
            redis_url=request.getfixturevalue("redis_url"),
            **names,
            **quiet,
        )
    app.beat_schedule = {"yearly": {"task": "reports.yearly", "schedule": crontab(YEARLY)}}
    app.declare_topics(["default"])
    yield app
    app.close()


class Publishes:
    """Stands in for ``app.send_task``: records each job beat publishes and
    sends it for real, after failing the first ``failures`` calls as Kafka
    would (``PublishError``)."""

    def __init__(self, app: TaskQueue, failures: int = 0) -> None:
        self.send = app.send_task
        self.failures = failures
        self.attempts = 0
        self.ids: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, name: str, *args: Any, task_id: str, **options: Any) -> Any:
        with self.lock:
            self.attempts += 1
            if self.failures:
                self.failures -= 1
                raise PublishError("injected: the broker did not acknowledge the message")
        result = self.send(name, *args, task_id=task_id, **options)
        with self.lock:
            self.ids.append(task_id)
        return result


@pytest.fixture
def publishes(beat_app: TaskQueue, monkeypatch: pytest.MonkeyPatch) -> Publishes:
    spy = Publishes(beat_app)
    monkeypatch.setattr(beat_app, "send_task", spy)
    return spy


def due_tick(now: float) -> float:
    return Crontab(YEARLY).last_tick(now)


def test_a_tick_left_pending_by_a_dead_leader_is_published_once_under_its_id(
    beat_app: TaskQueue, publishes: Publishes
) -> None:
    now = time.time()
    tick = due_tick(now)
    dead = Beat(beat_app, name="dead")
    # The dead leader claimed the tick and died before publishing it.
    assert beat_app.state.claim_beat_tick("yearly", tick, dead.token, lease=0.5) == tick
    survivor = Beat(beat_app, name="survivor")
    assert survivor.tick(now) == [], "the dead leader's lease still runs"
    time.sleep(0.6)  # the lease expires (the store's clock)
    expected = tick_job_id("yearly", tick)
    assert survivor.tick(now) == [expected]
    assert survivor.tick(now) == [] and dead.tick(now) == []
    assert publishes.ids == [expected]
    assert beat_app.state.beat_last_tick("yearly") == tick


def test_two_leaders_never_fire_one_tick_twice(beat_app: TaskQueue, publishes: Publishes) -> None:
    now = time.time()
    start = threading.Barrier(2)
    fired: list[str] = []

    def leader(beat: Beat) -> None:
        start.wait()
        for _ in range(5):
            fired.extend(beat.tick(now))

    beats = [Beat(beat_app, name="a"), Beat(beat_app, name="b")]
    threads = [threading.Thread(target=leader, args=(b,)) for b in beats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [tick_job_id("yearly", due_tick(now))]
    assert fired == expected and publishes.ids == expected
    # A stale leader (its clock a year behind) fires nothing older either.
    assert beats[1].tick(now - 366 * 86_400) == []


def run_in_thread(beat: Beat) -> threading.Thread:
    thread = threading.Thread(target=beat.run, daemon=True)
    thread.start()
    return thread


def test_beat_stays_up_through_publish_errors_and_fires_the_tick_once_publishing_works(
    beat_app: TaskQueue, publishes: Publishes, caplog: pytest.LogCaptureFixture
) -> None:
    publishes.failures = 2
    beat = Beat(beat_app, name="patient")
    expected = tick_job_id("yearly", due_tick(time.time()))
    with caplog.at_level(logging.ERROR, logger="taskqueue.beat"):
        thread = run_in_thread(beat)
        try:
            wait_for(lambda: publishes.ids == [expected], 30)
            assert thread.is_alive()
        finally:
            beat.stop.set()
            thread.join(10)
    assert not thread.is_alive()
    assert publishes.attempts == 3 and publishes.ids == [expected]
    assert sum("could not fire yearly" in r.getMessage() for r in caplog.records) == 2


def test_beat_stays_up_through_a_state_store_error_and_keeps_the_tick_pending(
    beat_app: TaskQueue, publishes: Publishes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails after the publish: the tick stays pending, and the
    retry publishes it again under the same id (the same job)."""
    store = beat_app.state
    finish = store.finish_beat_tick
    failures = [StateStoreUnavailable("injected: Redis went away")]

    def finish_once_failing(entry: str, tick: float) -> None:
        if failures:
            raise failures.pop()
        finish(entry, tick)

    monkeypatch.setattr(store, "finish_beat_tick", finish_once_failing)
    beat = Beat(beat_app, name="patient")
    tick = due_tick(time.time())
    thread = run_in_thread(beat)
    try:
        wait_for(lambda: store.beat_last_tick("yearly") == tick, 30)
        assert thread.is_alive()
    finally:
        beat.stop.set()
        thread.join(10)
    assert publishes.ids == [tick_job_id("yearly", tick)] * 2


def test_beat_stays_up_while_its_schedule_cannot_be_read(
    beat_app: TaskQueue, publishes: Publishes
) -> None:
    """A schedule kept in a database that is down: beat waits and fires
    the tick once it can read the schedule again."""
    code = CodeSchedule(beat_app)
    failures = [RuntimeError("injected: the schedule's database is down")] * 2

    class FlakySource:
        def entries(self) -> list[Entry]:
            if failures:
                raise failures.pop()
            return code.entries()

    beat = Beat(beat_app, source=FlakySource(), name="patient")
    tick = due_tick(time.time())
    thread = run_in_thread(beat)
    try:
        wait_for(lambda: beat_app.state.beat_last_tick("yearly") == tick, 30)
        assert thread.is_alive()
    finally:
        beat.stop.set()
        thread.join(10)
    assert publishes.ids == [tick_job_id("yearly", tick)]
