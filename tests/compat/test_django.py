"""Celery's Django support, with only the import changed: ``delay_on_commit``,
``get_task_logger``, stale connections closed around each task (the Django
fixup), and periodic tasks kept in the database (django-celery-beat's job),
read by a real beat tick and run on a worker."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from taskqueue import TaskQueue
from taskqueue.beat import Beat, tick_job_id
from taskqueue.contrib.django import django_app
from taskqueue.contrib.django.connections import CloseOldConnections
from taskqueue.contrib.django.models import PeriodicTask
from taskqueue.contrib.django.schedules import DatabaseSchedule
from taskqueue.middleware import Execution
from taskqueue.utils.log import get_task_logger
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

logger = get_task_logger(__name__)

IN_MEMORY = {"broker_url": "memory://", "redis_url": "memory://", "mongo_url": "memory://"}


@pytest.fixture
def eager_app(unique_name: str) -> TaskQueue:
    return TaskQueue("django", key_prefix=unique_name, always_eager=True, **IN_MEMORY)


# --- delay_on_commit -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_delay_on_commit_publishes_after_the_commit_and_never_on_rollback(
    eager_app: TaskQueue,
) -> None:
    sent: list[int] = []

    @eager_app.task
    def send_email(user_pk: int) -> None:
        sent.append(user_pk)

    def create_user(username: str) -> Any:
        user = get_user_model().objects.create(username=username)
        send_email.delay_on_commit(user.pk)
        return user

    with transaction.atomic():
        user = create_user("ada")
        assert sent == [], "nothing is sent before the commit"
    assert sent == [user.pk]
    with pytest.raises(RuntimeError), transaction.atomic():
        create_user("bob")
        raise RuntimeError("the view failed")
    assert sent == [user.pk], "a rolled-back transaction sends nothing"
    send_email.delay_on_commit(7)  # outside a transaction: at once
    assert sent == [user.pk, 7]


# --- get_task_logger -------------------------------------------------------------------


@pytest.mark.fast
def test_get_task_logger_records_carry_the_running_task(
    unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = TaskQueue("django", key_prefix=unique_name, control_enabled=False, **IN_MEMORY)

    @app.task(name="tasks.add")
    def add(x: int, y: int) -> int:
        logger.info("Adding {0} + {1}".format(x, y))  # noqa: UP030, UP032 - Celery's example
        return x + y

    worker = Worker(app, concurrency=1, name="log-worker")
    ready = threading.Event()
    thread = threading.Thread(target=worker.run, kwargs={"ready": ready.set}, daemon=True)
    with caplog.at_level(logging.INFO, logger="taskqueue.task"):
        thread.start()
        assert ready.wait(30)
        try:
            result = add.delay(2, 3)
            assert result.get(timeout=30) == 5
        finally:
            worker.stop()
            thread.join(30)
    [record] = [r for r in caplog.records if r.getMessage() == "Adding 2 + 3"]
    assert (record.task_id, record.task_name) == (result.id, "tasks.add")  # type: ignore[attr-defined]


# --- stale connections -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_django_app_closes_the_tasks_connections_after_it(unique_name: str) -> None:
    app = django_app("django", key_prefix=unique_name, control_enabled=False, **IN_MEMORY)
    assert any(isinstance(m, CloseOldConnections) for m in app.middleware)
    used: list[Any] = []

    @app.task
    def count_users() -> int:
        used.append(connection)  # this pool thread's connection
        return get_user_model().objects.count()

    worker = Worker(app, concurrency=1, name="db-worker")
    ready = threading.Event()
    thread = threading.Thread(target=worker.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        assert count_users.delay().get(timeout=30) == 0
    finally:
        worker.stop()
        thread.join(30)
    # CONN_MAX_AGE is 0 here: the connection is obsolete once the task ends.
    assert used and used[0].connection is None, "the task's connection was left open"


@pytest.mark.django_db(transaction=True)
def test_a_stale_connection_is_closed_before_the_task_body_runs(eager_app: TaskQueue) -> None:
    @eager_app.task
    def noop() -> None: ...

    seen: dict[str, Any] = {}

    def pool_thread() -> None:
        get_user_model().objects.exists()  # an earlier job left this thread connected
        seen["before"] = connection.connection is not None

        def body() -> None:
            seen["at_start"] = connection.connection

        execution = Execution(message=None, task=noop, in_child=False)  # type: ignore[arg-type]
        CloseOldConnections().around_execute(eager_app, execution, body)

    thread = threading.Thread(target=pool_thread)
    thread.start()
    thread.join(30)
    assert seen == {"before": True, "at_start": None}


# --- periodic tasks in the database ----------------------------------------------------


def _periodic(**fields: Any) -> PeriodicTask:
    fields.setdefault("name", "add")
    fields.setdefault("task", "tasks.add")
    row = PeriodicTask(**fields)
    row.save()
    return row


@pytest.mark.django_db
def test_a_periodic_task_is_validated_when_cleaned() -> None:
    for fields, field in [
        ({}, "interval_seconds"),
        ({"interval_seconds": 5, "crontab": "* * * * *"}, "interval_seconds"),
        ({"crontab": "0 0 31 2 *"}, "crontab"),
        ({"crontab": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"interval_seconds": 5, "args": {"x": 1}}, "args"),
    ]:
        with pytest.raises(ValidationError) as refused:
            PeriodicTask(name="x", task="tasks.add", **fields).full_clean()
        assert field in refused.value.message_dict, fields


@BOTH_STACKS
@pytest.mark.django_db
def test_database_periodic_tasks_fire_once_per_tick_and_run_on_a_worker(
    capp: TaskQueue, tasks: dict[str, Any], worker: Any
) -> None:
    capp.conf.timezone = "Europe/Paris"
    every_minute = _periodic(name="every minute", interval_seconds=60, args=[2, 2])
    mornings = _periodic(name="mornings", crontab="0 9 * * *", kwargs={"x": 1, "y": 2})
    _periodic(name="off", interval_seconds=60, args=[0, 0], enabled=False)
    beat = Beat(capp, source=DatabaseSchedule(capp, [PeriodicTask]), name="db")
    assert sorted(e.name for e in beat.source.entries()) == sorted(
        [every_minute.beat_entry().name, mornings.beat_entry().name]
    )
    now = datetime(2025, 6, 2, 12, 0, 30, tzinfo=UTC).timestamp()
    builtin = {e.name for e in beat.builtin}  # the daily result cleanup, if the store needs it
    builtin_ids = {
        tick_job_id(e.name, e.last_tick(now)) for e in beat.entries() if e.name in builtin
    }
    fired = [job_id for job_id in beat.tick(now) if job_id not in builtin_ids]
    nine_paris = datetime(2025, 6, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    minute_id = tick_job_id(every_minute.beat_entry().name, now - now % 60)
    morning_id = tick_job_id(mornings.beat_entry().name, nine_paris)
    assert sorted(fired) == sorted([minute_id, morning_id])
    assert capp.AsyncResult(minute_id).get(timeout=30) == 4
    assert capp.AsyncResult(morning_id).get(timeout=30) == 3
    assert beat.tick(now) == [], "a tick fires once"
    every_minute.refresh_from_db()
    assert every_minute.total_run_count == 1
    assert every_minute.last_run_at == datetime.fromtimestamp(now - now % 60, tz=UTC)
