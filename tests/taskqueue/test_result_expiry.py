"""Results expire after ``result_expires``: the store's purge, the built-in
cleanup task, beat's daily entry for stores without TTL indexes, the CLI."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.beat import Beat, Crontab
from taskqueue.builtins import BACKEND_CLEANUP
from taskqueue.cli import main

pytestmark = pytest.mark.fast

APP = TaskQueue(
    "expiry",
    broker_url="memory://",
    redis_url="memory://",
    mongo_url="memory://expiry",
    result_database="expiry",
    result_expires=3600,
)
"""The CLI test loads this app by its import path, as an operator would."""


def _done(job_id: str, days_ago: float) -> dict[str, Any]:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return {"_id": job_id, "state": "SUCCESS", "final": True, "retries": 0, "date_done": when}


@pytest.fixture
def app() -> TaskQueue:
    APP.result_store.drop()
    return APP


def test_every_app_has_the_cleanup_task_and_it_deletes_expired_results(app: TaskQueue) -> None:
    app.result_store.write([_done("old", 2), _done("new", 0)])
    assert app.tasks[BACKEND_CLEANUP]() == 1
    assert app.result_store.get("old") is None
    assert app.result_store.get("new") is not None


def test_beat_schedules_the_cleanup_daily_when_the_store_does_not_expire_results(
    app: TaskQueue,
) -> None:
    assert not app.result_store.expire_after(3600)  # the memory store keeps no TTL index
    [entry] = [e for e in Beat(app).entries() if e.task == BACKEND_CLEANUP]
    assert isinstance(entry.schedule, Crontab) and entry.schedule.expression == "0 4 * * *"
    forever = TaskQueue(
        "forever",
        broker_url="memory://",
        redis_url="memory://",
        mongo_url="memory://",
        result_expires=0,
    )
    assert not [e for e in Beat(forever).entries() if e.task == BACKEND_CLEANUP]


def test_cli_purges_with_the_setting_or_an_explicit_age(
    app: TaskQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    app.result_store.write([_done("week", 7), _done("half-hour", 1 / 48), _done("now", 0)])
    spec = f"{__name__}:APP"
    assert main(["results", "purge", "-A", spec]) == 0
    assert "deleted 1" in capsys.readouterr().out
    assert app.result_store.get("week") is None and app.result_store.get("half-hour") is not None
    assert main(["results", "purge", "-A", spec, "--older-than", "60"]) == 0
    assert "deleted 1" in capsys.readouterr().out
    assert app.result_store.get("half-hour") is None and app.result_store.get("now") is not None
    assert main(["results", "purge", "-A", spec, "--older-than", "-5"]) == 2
    assert "--older-than must be more than 0 seconds" in capsys.readouterr().err
