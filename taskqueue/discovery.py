"""``app.autodiscover_tasks()``: import the ``tasks`` modules of packages.

As in Celery, with three forms:

- ``autodiscover_tasks(["shop", "billing"])`` imports ``shop.tasks`` and
  ``billing.tasks`` (or the package itself when it has no ``tasks``
  module) at once.
- ``autodiscover_tasks()`` in a Django project finds the installed apps'
  ``tasks`` modules. Called from the project's ``celery.py``-style module,
  which Django's settings import before the app registry is ready, it
  waits: the modules are imported when the app is first asked for a task
  it does not know, for its queues (a worker starting), or by ``-A``.
  Outside Django there is nothing to discover and it does nothing.
- ``autodiscover_tasks(lambda: settings.INSTALLED_APPS)`` waits the same
  way, then calls the function (Celery's lazy form).

``force=True`` discovers at once (setting Django up if needed).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import TaskQueue

Packages = Iterable[str] | Callable[[], Iterable[str]] | None

_pending: weakref.WeakKeyDictionary[TaskQueue, list[tuple[Packages, str | None]]] = (
    weakref.WeakKeyDictionary()
)
"""Discoveries that wait for Django's app registry or the first need."""
_lock = threading.RLock()


def autodiscover(
    app: TaskQueue, packages: Packages, related_name: str | None, force: bool
) -> list[str]:
    """Import now, or remember for later; the module names imported now."""
    if packages is not None and not callable(packages):
        return import_tasks(packages, related_name)
    names = _packages(packages, setup=force)
    if names is None:
        with _lock:
            _pending.setdefault(app, []).append((packages, related_name))
        return []
    return import_tasks(names, related_name)


def run_pending(app: TaskQueue) -> list[str]:
    """Carry out the discoveries ``app`` was waiting to do; the modules imported."""
    with _lock:
        waiting = _pending.pop(app, [])
        imported: list[str] = []
        for packages, related_name in waiting:
            names = _packages(packages, setup=True)
            imported += import_tasks(names or (), related_name)
    return imported


def _packages(packages: Packages, setup: bool) -> list[str] | None:
    """The package names, or None when they cannot be known yet."""
    if callable(packages):
        return list(packages()) if setup else None
    if "django" not in sys.modules and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return []  # no Django: Celery's loader has no packages to look in either
    from .contrib.django.installed import installed_packages

    return installed_packages(setup)


def import_tasks(packages: Iterable[str], related_name: str | None = "tasks") -> list[str]:
    """Import ``<package>.<related_name>`` (or the package itself) for each package."""
    imported = []
    for name in packages:
        for candidate in ([f"{name}.{related_name}"] if related_name else []) + [name]:
            try:
                importlib.import_module(candidate)
            except ModuleNotFoundError as exc:
                if exc.name != candidate:
                    raise  # a real import error inside the module
                continue
            imported.append(candidate)
            break
    return imported
