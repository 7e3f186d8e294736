"""Celery's documented imports, with ``celery`` replaced by ``taskqueue``."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from taskqueue import TaskQueue

pytestmark = pytest.mark.fast


def test_top_level_names() -> None:
    from taskqueue import Celery, Task, chain, chord, chunks, group, signature, states

    assert Celery is TaskQueue
    assert states.SUCCESS == "SUCCESS" and "FAILURE" in states.READY_STATES
    assert all(callable(x) for x in (Task, chain, chord, chunks, group, signature))


def test_module_paths() -> None:
    from taskqueue.canvas import Signature, chain, chord, chunks, group, signature, xmap, xstarmap
    from taskqueue.exceptions import (
        MaxRetriesExceeded,
        MaxRetriesExceededError,
        NotRegistered,
        Retry,
        TimeoutError,
    )
    from taskqueue.result import AsyncResult, GroupResult, ResultSet
    from taskqueue.schedules import crontab, schedule
    from taskqueue.utils.log import get_task_logger

    assert MaxRetriesExceededError is MaxRetriesExceeded
    assert issubclass(GroupResult, ResultSet)
    assert all(
        x is not None
        for x in (Signature, chain, chord, chunks, group, signature, xmap, xstarmap)
        + (NotRegistered, Retry, TimeoutError, AsyncResult, crontab, schedule, get_task_logger)
    )


def test_signals_have_celerys_names() -> None:
    from taskqueue.signals import (
        after_task_publish,
        before_task_publish,
        task_failure,
        task_postrun,
        task_prerun,
        task_received,
        task_retry,
        task_revoked,
        task_success,
        worker_init,
        worker_process_init,
        worker_ready,
        worker_shutdown,
    )

    signals = (before_task_publish, after_task_publish, task_prerun, task_postrun)
    signals += (task_success, task_failure, task_retry, task_revoked, task_received)
    signals += (worker_init, worker_ready, worker_shutdown, worker_process_init)
    assert [s.name for s in signals] == [
        "before_task_publish",
        "after_task_publish",
        "task_prerun",
        "task_postrun",
        "task_success",
        "task_failure",
        "task_retry",
        "task_revoked",
        "task_received",
        "worker_init",
        "worker_ready",
        "worker_shutdown",
        "worker_process_init",
    ]


def test_crontab_takes_celerys_keywords() -> None:
    from taskqueue.schedules import crontab

    assert crontab().expression == "* * * * *"
    assert crontab(minute=0, hour=0).expression == "0 0 * * *"
    assert crontab(minute="*/15").expression == "*/15 * * * *"
    assert crontab(minute=0, hour="*/3", day_of_week="mon-fri").expression == "0 */3 * * 1-5"
    assert crontab(0, 0, day_of_week="sunday,sat").expression == "0 0 * * 0,6"
    assert crontab(0, 0, day_of_month="2", month_of_year=[1, 7]).expression == "0 0 2 1,7 *"
    from taskqueue.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown day"):
        crontab(day_of_week="funday")


def test_beat_takes_crontab_and_schedule_entries(unique_name: str) -> None:
    from taskqueue.beat import CodeSchedule
    from taskqueue.schedules import crontab, schedule

    app = TaskQueue("beat", broker_url="memory://", redis_url="memory://", key_prefix=unique_name)
    app.beat_schedule = {
        "every-5-minutes": {"task": "tasks.add", "schedule": schedule(timedelta(minutes=5))},
        "mondays": {"task": "tasks.add", "schedule": crontab(hour=7, minute=30, day_of_week=1)},
    }
    entries = {e.name: e for e in CodeSchedule(app).entries()}
    assert entries["every-5-minutes"].last_tick(1000.0) == 900.0
    monday_0730 = 1_700_465_400.0  # 2023-11-20 07:30 UTC, a Monday
    assert entries["mondays"].last_tick(monday_0730 + 60) == monday_0730
    assert schedule(30).run_every == timedelta(seconds=30)


def test_task_logger_records_carry_the_running_task(unique_name: str) -> None:
    from taskqueue.utils.log import get_task_logger

    app = TaskQueue("log", broker_url="memory://", redis_url="memory://", key_prefix=unique_name)
    logger = get_task_logger("shop.tasks")
    assert logger.name == "shop.tasks"
    assert logger.parent is logging.getLogger("taskqueue.task")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:

        @app.task(name="shop.tasks.hello")
        def hello() -> None:
            logger.info("hi")

        result = hello.apply(task_id="job-1")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    assert result.successful()
    assert [(r.task_name, r.task_id) for r in seen] == [  # type: ignore[attr-defined]
        ("shop.tasks.hello", "job-1"),
        ("???", "???"),
    ]
