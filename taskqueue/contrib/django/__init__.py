"""Django integration: the only part of taskqueue that knows Django.

In a project, next to settings (Celery users will recognise it)::

    # config/taskqueue.py
    from taskqueue.contrib.django import django_app, discover_tasks
    app = django_app("mysite")
    discover_tasks(app)

Settings named ``TASKQUEUE_<OPTION>`` in Django's settings configure the app
(``TASKQUEUE_BROKER_URL``, ``TASKQUEUE_REDIS_URL``...); ``TASKQUEUE_APP``
names the app for the management commands (``manage.py worker``, ``beat``,
``manage.py create_topics``). Add ``"taskqueue.contrib.django"`` to
INSTALLED_APPS to get those commands.
"""

from __future__ import annotations

import os
from typing import Any

from taskqueue.app import TaskQueue

APP_SETTING = "TASKQUEUE_APP"
"""The Django setting naming the app module for the management commands."""


def _setup_django() -> None:
    # A worker's process-pool children import the app module without
    # manage.py having set Django up, so the app module does it itself.
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not apps.ready:
        django.setup()


def django_app(main: str, **options: Any) -> TaskQueue:
    """A TaskQueue configured from Django's ``TASKQUEUE_*`` settings."""
    _setup_django()
    from django.conf import settings

    # TASKQUEUE_APP belongs to the management commands, not to the app.
    values = {
        name: getattr(settings, name)
        for name in dir(settings)
        if name.startswith("TASKQUEUE_") and name != APP_SETTING
    }
    return TaskQueue(main, settings_object=values, **options)


def discover_tasks(app: TaskQueue) -> list[str]:
    """Import the ``tasks`` module of every installed Django app that has one."""
    from django.apps import apps

    return app.autodiscover_tasks([config.name for config in apps.get_app_configs()])
