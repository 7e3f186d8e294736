"""Django integration: the only part of taskqueue that knows Django.

In a project, next to settings (Celery users will recognise it)::

    # mysite/taskqueue.py
    from taskqueue.contrib.django import django_app, discover_tasks
    app = django_app("mysite")
    discover_tasks(app)

    # settings.py
    TASKQUEUE_APP = "mysite.taskqueue:app"

    # any installed app's tasks.py: no import of the project
    from taskqueue.contrib.django import shared_task

    @shared_task(bind=True, max_retries=3)
    def refresh(self, pk): ...

Settings named ``TASKQUEUE_<OPTION>`` in Django's settings configure the app
(``TASKQUEUE_BROKER_URL``, ``TASKQUEUE_REDIS_URL``...); ``TASKQUEUE_APP``
names the project's app, which :func:`shared_task` registers tasks on and
the management commands run (``manage.py worker``, ``beat``,
``manage.py create_topics``). Add ``"taskqueue.contrib.django"`` to
INSTALLED_APPS to get those commands. Django's settings module comes from
``DJANGO_SETTINGS_MODULE``, as for ``manage.py``.

Also here, as Celery's Django support offers: ``task.delay_on_commit()``
(:mod:`.transaction`), stale connections closed around each task
(:mod:`.connections`), and periodic tasks kept in the database
(:mod:`.schedules`, :class:`.models.PeriodicTask`, after ``manage.py migrate``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, overload

from taskqueue.app import TaskQueue, load_app
from taskqueue.exceptions import ConfigurationError
from taskqueue.task import Task

APP_SETTING = "TASKQUEUE_APP"
"""The Django setting naming the app module for the management commands."""


def _setup_django() -> None:
    # A worker's process-pool children import the app module without
    # manage.py having set Django up, so the app module does it itself.
    import django
    from django.apps import apps
    from django.conf import settings

    if apps.ready:
        return
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ConfigurationError(
            "DJANGO_SETTINGS_MODULE is not set: a Django-configured taskqueue app needs "
            "the project's settings module, e.g. DJANGO_SETTINGS_MODULE=mysite.settings"
        )
    django.setup()


def django_app(main: str, **options: Any) -> TaskQueue:
    """A TaskQueue configured from Django's ``TASKQUEUE_*`` settings, closing
    stale database connections around each task (``connections``)."""
    _setup_django()
    from django.conf import settings

    from .connections import CloseOldConnections

    # TASKQUEUE_APP belongs to the management commands, not to the app.
    values = {
        name: getattr(settings, name)
        for name in dir(settings)
        if name.startswith("TASKQUEUE_") and name != APP_SETTING
    }
    middleware = [CloseOldConnections(), *options.pop("middleware", ())]
    return TaskQueue(main, settings_object=values, middleware=middleware, **options)


def discover_tasks(app: TaskQueue) -> list[str]:
    """Import the ``tasks`` module of every installed Django app that has one."""
    from django.apps import apps

    return app.autodiscover_tasks([config.name for config in apps.get_app_configs()])


def project_app() -> TaskQueue:
    """The project's app, named by the ``TASKQUEUE_APP`` setting (``module:attribute``).

    Resolved on each call rather than cached: importing the named module is
    cheap once done, and tests that swap the setting see the new app.
    """
    _setup_django()
    from django.conf import settings

    spec = getattr(settings, APP_SETTING, "")
    if not spec:
        raise ConfigurationError(
            f"{APP_SETTING} is not set: name the module defining your TaskQueue app "
            f"in settings, e.g. {APP_SETTING} = 'mysite.taskqueue:app'"
        )
    return load_app(spec)


@overload
def shared_task(fn: Callable[..., Any]) -> Task: ...


@overload
def shared_task(fn: None = None, **options: Any) -> Callable[[Callable[..., Any]], Task]: ...


def shared_task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``@app.task`` on the project's app, for apps that must not import the project.

    Like Celery's ``shared_task``: a reusable app's ``tasks.py`` declares its
    tasks without knowing which project runs them. The task is registered
    when the decorator runs. When the project's app module is what imports
    the tasks (``discover_tasks``), its app already exists; when a tasks
    module is imported first, loading ``TASKQUEUE_APP`` imports the project's
    app module, which then finds this module half-imported and goes on, as
    any circular import does.
    """

    def register(func: Callable[..., Any]) -> Task:
        return project_app().task(**options)(func)

    return register(fn) if fn is not None else register
