"""``shared_task``: tasks of a reusable module that knows no app (Celery's).

::

    from taskqueue import shared_task

    @shared_task(bind=True, max_retries=3)
    def refresh(self, pk): ...

The function is registered on every app, those that exist and those
created later, with the same options. ``refresh`` is a proxy: ``delay``,
``apply_async``, ``s``... go to the task of the *current app*: the app
most recently created or made current with ``app.set_current()`` (a
worker makes its app current when it starts), as in Celery. A signal receiver
connected with ``sender=refresh`` matches the task on any app.

Django projects may keep ``taskqueue.contrib.django.shared_task``: it
registers on the project's ``TASKQUEUE_APP`` and returns that app's task.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .exceptions import TaskQueueError

if TYPE_CHECKING:
    from .app import TaskQueue
    from .task import Task

_lock = threading.RLock()
_shared: dict[tuple[str, str], tuple[Callable[..., Any], dict[str, Any]]] = {}
"""(module, qualname) -> the function and its options, in definition order."""
_apps: weakref.WeakSet[TaskQueue] = weakref.WeakSet()
_current: weakref.ref[TaskQueue] | None = None


def shared_task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``@shared_task`` or ``@shared_task(**task_options)``: see the module doc."""

    def register(func: Callable[..., Any]) -> SharedTask:
        with _lock:
            # Keyed by where it is defined: a reloaded module replaces its tasks.
            _shared[(func.__module__, func.__qualname__)] = (func, dict(options))
            apps = list(_apps)
        for app in apps:
            app.task(**options)(func)
        return SharedTask(func, options)

    return register(fn) if fn is not None else register


def app_created(app: TaskQueue) -> None:
    """Called by every new app: register the shared tasks, become current."""
    global _current
    with _lock:
        shared = list(_shared.values())
        _apps.add(app)
        _current = weakref.ref(app)
    for func, options in shared:
        app.task(**options)(func)


def set_current(app: TaskQueue) -> None:
    global _current
    with _lock:
        _current = weakref.ref(app)


def current_app() -> TaskQueue:
    """The app made current last (a worker makes its own app current)."""
    app = _current() if _current is not None else None
    if app is None:
        raise TaskQueueError("no taskqueue app exists yet: create one (TaskQueue(...)) first")
    return app


class SharedTask:
    """Proxy of a shared task: each use resolves the current app's task."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self._fn = fn
        self._options = options
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__

    @property
    def shared_name(self) -> str:
        """The task's name (on an app whose main name is not needed for it)."""
        name = self._options.get("name")
        return str(name) if name else f"{self._fn.__module__}.{self._fn.__qualname__}"

    def task_of(self, app: TaskQueue) -> Task:
        for task in app.tasks.values():
            if task.fn is self._fn:
                return task
        return app.task(**self._options)(self._fn)

    def _resolve(self) -> Task:
        return self.task_of(current_app())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<SharedTask {self.shared_name}>"
