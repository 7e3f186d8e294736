"""Beat as Celery's periodic-tasks guide shows it, with only the import changed:
``beat_schedule`` entries (numbers, ``timedelta``, ``crontab``), the
``timezone`` setting, ``app.add_periodic_task``; jobs a beat tick publishes
run on a worker (in memory and on Kafka, Redis, MongoDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from taskqueue import TaskQueue
from taskqueue.beat import Beat, tick_job_id
from taskqueue.crontab import Crontab
from taskqueue.exceptions import ConfigurationError
from taskqueue.schedules import crontab

from .conftest import BOTH_STACKS

MONDAY = datetime(2025, 6, 2, 12, 0, tzinfo=UTC).timestamp()
"""A Monday, 12:00 UTC (summer: New York is UTC-4, London UTC+1)."""


@BOTH_STACKS
def test_beat_schedule_entries_fire_and_run_on_a_worker(
    capp: TaskQueue, tasks: dict[str, Any], worker: Any
) -> None:
    capp.conf.beat_schedule = {
        "add-every-30-seconds": {"task": "tasks.add", "schedule": 30.0, "args": (16, 16)},
        "add-every-minute": {
            "task": "tasks.add",
            "schedule": timedelta(minutes=1),
            "args": (1,),
            "kwargs": {"y": 2},
        },
        "add-every-monday-morning": {
            "task": "tasks.add",
            "schedule": crontab(hour=7, minute=30, day_of_week=1),
            "args": (16, 16),
            "options": {"queue": "default"},
        },
    }
    beat = Beat(capp, name="compat")
    now = MONDAY
    fired = beat.tick(now)
    expected = {
        "add-every-30-seconds": (now - now % 30, 32),
        "add-every-minute": (now - now % 60, 3),
        "add-every-monday-morning": (datetime(2025, 6, 2, 7, 30, tzinfo=UTC).timestamp(), 32),
    }
    for name, (tick, value) in expected.items():
        job_id = tick_job_id(name, tick)
        assert job_id in fired, name
        assert capp.AsyncResult(job_id).get(timeout=30) == value
    assert beat.tick(now) == [], "a tick fires once"
    later = beat.tick(now + 30)
    assert later == [tick_job_id("add-every-30-seconds", now - now % 30 + 30)]


@pytest.mark.fast
def test_crontab_follows_the_timezone_setting(capp: TaskQueue) -> None:
    capp.conf.timezone = "America/New_York"
    assert capp.conf.timezone == "America/New_York" == capp.settings.timezone
    capp.conf.beat_schedule = {
        "mondays": {"task": "tasks.add", "schedule": crontab(hour=7, minute=30, day_of_week=1)},
        "paris": {"task": "tasks.add", "schedule": Crontab("0 9 * * *", tz="Europe/Paris")},
    }
    entries = {e.name: e for e in Beat(capp).entries()}
    new_york = datetime(2025, 6, 2, 7, 30, tzinfo=ZoneInfo("America/New_York"))
    assert entries["mondays"].last_tick(MONDAY) == new_york.timestamp()  # 11:30 UTC
    paris = datetime(2025, 6, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert entries["paris"].last_tick(MONDAY) == paris.timestamp(), "its own zone wins"
    before = Beat(capp, name="early").tick(new_york.timestamp() - 60)
    assert tick_job_id("mondays", new_york.timestamp()) not in before


@pytest.mark.fast
def test_each_wall_clock_time_fires_once_across_daylight_saving_changes() -> None:
    def utc(*args: int) -> float:
        return datetime(*args, tzinfo=UTC).timestamp()

    daily = Crontab("30 2 * * *", tz="Europe/Berlin")
    # 2025-03-30: clocks jump from 02:00 to 03:00 (01:00 UTC); 02:30 fires at the jump.
    assert daily.last_tick(utc(2025, 3, 30, 0, 59)) == utc(2025, 3, 29, 1, 30)  # 02:30 CET
    assert daily.last_tick(utc(2025, 3, 30, 1, 0)) == utc(2025, 3, 30, 1, 0)
    # 2025-10-26: 03:00 becomes 02:00 again (01:00 UTC); 02:30 fires the first time only.
    assert daily.last_tick(utc(2025, 10, 26, 0, 30)) == utc(2025, 10, 26, 0, 30)
    assert daily.last_tick(utc(2025, 10, 26, 1, 45)) == utc(2025, 10, 26, 0, 30)
    quarterly = Crontab("*/15 * * * *", tz="Europe/Berlin")
    ticks = {quarterly.last_tick(utc(2025, 10, 26, 0, 0) + m * 60) for m in range(180)}
    walls = [datetime.fromtimestamp(t, ZoneInfo("Europe/Berlin")).strftime("%H:%M") for t in ticks]
    assert len(walls) == len(set(walls)), "no wall-clock time fires twice"


@pytest.mark.fast
def test_add_periodic_task_as_in_celerys_guide(capp: TaskQueue) -> None:
    @capp.task(name="tasks.test")
    def test(arg: str) -> None: ...

    sender = capp
    # Calls test('hello') every 10 seconds.
    sender.add_periodic_task(10.0, test.s("hello"), name="add every 10")
    # It uses the same signature of previous task, an explicit name is
    # defined to avoid this task replacing the previous one defined.
    sender.add_periodic_task(30.0, test.s("hello"), name="add every 30")
    # Calls test('world') every 30 seconds
    sender.add_periodic_task(30.0, test.s("world"), expires=10)
    # Executes every Monday morning at 7:30 a.m.
    sender.add_periodic_task(crontab(hour=7, minute=30, day_of_week=1), test.s("Happy Mondays!"))

    entries = {e.name: e for e in Beat(capp).entries()}
    assert {"add every 10", "add every 30", "tasks.test('world')"} <= set(entries)
    assert entries["add every 10"].schedule == 10.0 and entries["add every 10"].args == ("hello",)
    assert entries["tasks.test('world')"].options == {"expires": 10}
    mondays = entries["tasks.test('Happy Mondays!')"].schedule
    assert isinstance(mondays, Crontab) and mondays.expression == "30 7 * * 1"
    with pytest.raises(ConfigurationError, match="schedule must be"):
        sender.add_periodic_task(0, test.s("never"))


@pytest.mark.fast
def test_conf_reads_and_updates_settings_loudly(capp: TaskQueue) -> None:
    capp.conf.update(timezone="Europe/London", result_expires=60)
    assert capp.conf["timezone"] == "Europe/London" and capp.settings.result_expires == 60
    assert "beat_schedule" in capp.conf and capp.conf.get("nope", 1) == 1
    with pytest.raises(ConfigurationError, match="IANA"):
        capp.conf.timezone = "Mars/Olympus"
    with pytest.raises(ConfigurationError, match="did you mean timezone"):
        capp.conf.update(timezon="UTC")
    with pytest.raises(AttributeError):
        _ = capp.conf.timezon


@pytest.mark.fast
@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"task": "t", "schedule": 5, "relative": True}, "'relative' is not supported"),
        ({"task": "t", "schedule": 5, "option": {}}, "unknown key"),
        ({"task": "t", "schedule": "5"}, "schedule must be"),
        ({"task": "t", "schedule": timedelta(0)}, "schedule must be"),
        ({"schedule": 5}, "needs 'task'"),
    ],
)
def test_a_bad_beat_schedule_entry_is_refused_with_the_reason(
    capp: TaskQueue, spec: dict[str, Any], why: str
) -> None:
    capp.conf.beat_schedule = {"bad": spec}
    with pytest.raises(ConfigurationError, match=why):
        Beat(capp).entries()


@pytest.mark.fast
def test_on_after_configure_sets_up_periodic_tasks_as_in_celerys_guide(capp: TaskQueue) -> None:
    app = capp
    heard: list[tuple[str, Any]] = []

    @app.on_after_configure.connect
    def setup_periodic_tasks(sender: TaskQueue, **kwargs: Any) -> None:
        heard.append(("configure", sender))
        # Calls test('hello') every 10 seconds.
        sender.add_periodic_task(10.0, test.s("hello"), name="add every 10")
        # Executes every Monday morning at 7:30 a.m.
        sender.add_periodic_task(
            crontab(hour=7, minute=30, day_of_week=1),
            test.s("Happy Mondays!"),
        )

    @app.on_after_finalize.connect
    def finalized(sender: TaskQueue, **kwargs: Any) -> None:
        heard.append(("finalize", sender))

    @app.task
    def test(arg: str) -> None:
        print(arg)

    assert app.beat_schedule == {}, "nothing before the app is finalized"
    entries = {e.name: e for e in Beat(app).entries()}
    assert entries["add every 10"].args == ("hello",) and entries["add every 10"].schedule == 10.0
    assert f"{test.name}('Happy Mondays!')" in entries
    assert heard == [("configure", app), ("finalize", app)], "once each, in Celery's order"

    late: list[Any] = []
    app.on_after_configure.connect(lambda sender, **kwargs: late.append(sender))
    app.finalize()
    Beat(app)
    assert late == [] and len(heard) == 2, "sent once per app; a late receiver is not called"


@BOTH_STACKS
def test_beat_fires_an_entry_added_on_after_configure(
    capp: TaskQueue, tasks: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    @capp.on_after_configure.connect
    def setup_periodic_tasks(sender: TaskQueue, **kwargs: Any) -> None:
        sender.add_periodic_task(10.0, tasks["add"].s(2, 3), name="add every 10")

    beat = Beat(capp, name="compat")
    request.getfixturevalue("worker")  # a worker starting later finalizes nothing again
    fired = beat.tick(MONDAY)
    job_id = tick_job_id("add every 10", MONDAY - MONDAY % 10)
    assert job_id in fired
    assert capp.AsyncResult(job_id).get(timeout=30) == 5


@pytest.mark.fast
def test_a_worker_starting_finalizes_its_app(
    capp: TaskQueue, tasks: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    heard: list[Any] = []
    capp.on_after_finalize.connect(lambda sender, **kwargs: heard.append(sender))
    assert not capp.finalized
    request.getfixturevalue("worker")
    assert capp.finalized and heard == [capp]
