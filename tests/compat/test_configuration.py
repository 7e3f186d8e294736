"""Celery's "Configuration and defaults" and "First steps with Django"
examples, with only ``celery`` replaced by ``taskqueue`` in the imports.

Configuration is read when the app is configured, so these run on the
in-memory app (fast tier); routing is exercised on both stacks.
"""

from __future__ import annotations

import re
import sys
import textwrap
import threading
import types
from datetime import timedelta
from pathlib import Path

import pytest

from taskqueue import Celery, TaskQueue
from taskqueue.exceptions import ConfigurationError
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

T = 30
"""Seconds any single result may take."""


class Config:
    """Celery's example: ``app.config_from_object('module:Config')``."""

    enable_utc = True
    timezone = "Europe/London"
    task_default_queue = "feeds"
    result_expires = timedelta(hours=2)


def memory_app() -> TaskQueue:
    return Celery("proj", broker_url="memory://", redis_url="memory://", mongo_url="memory://")


@pytest.mark.fast
def test_config_from_object_reads_a_class_or_its_module_path() -> None:
    by_object, by_path = memory_app(), memory_app()
    by_object.config_from_object(Config)
    by_path.config_from_object("tests.compat.test_configuration:Config")
    for app in (by_object, by_path):
        assert app.conf.timezone == "Europe/London"
        assert app.conf.task_default_queue == "feeds" == app.settings.default_queue
        assert app.conf.result_expires == 7200.0, "a timedelta is seconds"
        assert app.conf.enable_utc is True


@pytest.mark.fast
def test_a_module_of_settings_ignores_its_imports_and_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "celeryconfig.py").write_text(
        textwrap.dedent(
            """
            import os
            from datetime import timedelta

            broker_url = "memory://"
            task_serializer = "msgpack"
            task_soft_time_limit = None
            timezone = "Europe/Oslo"
            beat_schedule = {
                "every-minute": {"task": "tasks.add", "schedule": timedelta(minutes=1)},
            }

            def helper():
                return os.getcwd()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = memory_app()
    app.config_from_object("celeryconfig")
    assert (app.conf.task_serializer, app.conf.timezone) == ("msgpack", "Europe/Oslo")
    assert app.conf.task_soft_time_limit == 0, "None is no limit"
    assert list(app.conf.beat_schedule) == ["every-minute"]


@pytest.mark.fast
def test_django_settings_with_the_celery_namespace() -> None:
    # proj/celery.py: app.config_from_object("django.conf:settings", namespace="CELERY")
    settings = types.SimpleNamespace(
        SECRET_KEY="not a task setting",
        DEBUG=True,
        CELERY_BROKER_URL="memory://",
        CELERY_RESULT_BACKEND="redis://127.0.0.1:6379/3",
        CELERY_TASK_TIME_LIMIT=30 * 60,
        CELERY_WORKER_CONCURRENCY=3,
        CELERY_ACCEPT_CONTENT=["json"],
        CELERY_TASK_TRACK_STARTED=True,
        celery_lowercase_is_not_read="x",
    )
    app = memory_app()
    app.config_from_object(settings, namespace="CELERY")
    assert app.settings.redis_url == "redis://127.0.0.1:6379/3", "a redis:// backend is redis_url"
    assert (app.conf.task_time_limit, app.conf.worker_concurrency) == (1800.0, 3)
    assert app.settings.concurrency == 3


@pytest.mark.fast
def test_a_missing_config_module_is_an_error_unless_silent() -> None:
    app = memory_app()
    with pytest.raises(ModuleNotFoundError):
        app.config_from_object("no_such_module_celeryconfig")
    app.config_from_object("no_such_module_celeryconfig", silent=True)
    assert app.settings.default_queue == "default"


@pytest.mark.fast
def test_conf_update_and_assignment_accept_celery_names() -> None:
    app = memory_app()
    app.conf.update(enable_utc=True, timezone="Europe/London", task_acks_late=True)
    app.conf.worker_pool = "prefork"
    app.conf["task_always_eager"] = True
    assert (app.conf.timezone, app.settings.pool, app.settings.always_eager) == (
        "Europe/London",
        "processes",
        True,
    )
    assert "task_default_queue" in app.conf and app.conf.get("task_acks_late") is True


@pytest.mark.fast
@pytest.mark.parametrize(
    ("setting", "value", "explains"),
    [
        ("broker_transport_options", {"visibility_timeout": 3600}, "no visibility timeout"),
        ("worker_prefetch_multiplier", 1, "max_in_flight"),
        ("task_acks_late", False, "only after it finished"),
        ("accept_content", ["pickle", "json"], "never accepted"),
        ("task_queues", (), "not AMQP exchanges"),
        ("task_default_priority", 5, "no message priorities"),
        ("result_backend", "django-db", "mongo_url"),
    ],
)
def test_a_celery_setting_without_meaning_on_kafka_is_refused_with_the_reason(
    setting: str, value: object, explains: str
) -> None:
    app = memory_app()
    with pytest.raises(ConfigurationError, match=explains) as refused:
        app.conf.update({setting: value})
    assert setting in str(refused.value)
    settings = types.SimpleNamespace(**{f"CELERY_{setting.upper()}": value})
    with pytest.raises(ConfigurationError, match=explains):
        app.config_from_object(settings, namespace="CELERY")


@pytest.mark.fast
def test_a_misspelled_setting_still_fails_loudly_with_a_hint() -> None:
    app = memory_app()
    with pytest.raises(ConfigurationError, match="did you mean task_default_queue"):
        app.conf.update(task_defualt_queue="feeds")
    settings = types.SimpleNamespace(CELERY_TIMEZON="UTC")
    with pytest.raises(ConfigurationError, match="did you mean timezone"):
        app.config_from_object(settings, namespace="CELERY")
    with pytest.raises(AttributeError, match="unknown taskqueue setting"):
        _ = app.conf.task_defualt_queue


@pytest.mark.fast
def test_task_routes_by_name_glob_and_pattern_set_after_the_tasks() -> None:
    app = memory_app()

    @app.task(name="feed.tasks.import_feed")
    def import_feed() -> None: ...

    @app.task(name="video.encode")
    def encode() -> None: ...

    @app.task(name="image.tasks.resize")
    def resize() -> None: ...

    @app.task(name="feed.tasks.pinned", queue="pinned")
    def pinned() -> None: ...

    app.conf.task_routes = {
        "feed.tasks.*": {"queue": "feeds"},
        "video.encode": "media",
        re.compile(r"(image|audio)\.tasks\..*"): {"queue": "media"},
    }
    assert (import_feed.queue, encode.queue, resize.queue) == ("feeds", "media", "media")
    assert pinned.queue == "pinned", "a task's own queue wins over a route"
    assert "feeds" in app.queues() and "media" in app.queues()
    with pytest.raises(ConfigurationError, match="no exchanges"):
        app.conf.task_routes = {"video.*": {"queue": "media", "exchange": "media"}}
    with pytest.raises(ConfigurationError, match="function routers"):
        app.conf.task_routes = (lambda name, *a, **kw: None,)


@BOTH_STACKS
def test_a_routed_task_runs_from_its_routed_queue(capp: TaskQueue) -> None:
    capp.conf.task_routes = {"tasks.*": {"queue": "feeds"}}

    @capp.task(name="tasks.where", bind=True)
    def where(self) -> str:  # type: ignore[no-untyped-def]
        return str(self.request.queue)

    capp.declare_topics(["feeds"])
    worker = Worker(capp, queues=["feeds"], concurrency=1, name="routes-worker")
    ready = threading.Event()
    thread = threading.Thread(target=worker.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    try:
        assert ready.wait(60)
        assert where.delay().get(timeout=T) == "feeds"
    finally:
        worker.stop()
        thread.join(60)


@pytest.mark.fast
def test_autodiscover_tasks_imports_the_tasks_module_of_each_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "shop_compat"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "from taskqueue import shared_task\n\n@shared_task\ndef ping():\n    return 'pong'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "shop_compat.tasks", raising=False)
    app = memory_app()
    asked: list[str] = []

    def packages() -> list[str]:
        asked.append("now")
        return ["shop_compat"]

    assert app.autodiscover_tasks(packages) == [], "Celery's lazy form waits"
    assert asked == []
    assert app.get_task("shop_compat.tasks.ping").name == "shop_compat.tasks.ping"
    assert asked == ["now"], "discovered on the first need"
    assert app.autodiscover_tasks(["shop_compat", "json"]) == ["shop_compat.tasks", "json"]


@pytest.mark.fast
def test_autodiscover_tasks_without_packages_finds_djangos_installed_apps() -> None:
    import django

    django.setup()
    app = memory_app()
    found = app.autodiscover_tasks(force=True)
    assert {"jobs.tasks", "providers.tasks"} <= set(found)
