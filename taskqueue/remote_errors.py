"""A failed job's exception, rebuilt for ``AsyncResult.get()`` without unpickling.

A worker stores a failure as data: ``{"exc_type", "exc_message",
"exc_module"}``. The caller gets an exception of the task's own type back
when that type is safe to rebuild, by this rule:

- the type is found by name in a module **already imported** by the
  caller (nothing is ever imported on a stored name's say-so), and that
  module is ``builtins``, ``taskqueue.exceptions``, or a module that
  defines one of the app's registered tasks (or their task classes);
- it subclasses ``Exception`` (never ``SystemExit`` and the like);
- it can be built from the message alone (``cls(message)`` does not raise).

Anything else (a type the caller does not know, one that needs more
arguments) comes back as :class:`~taskqueue.exceptions.TaskFailed`.

A rebuilt exception is an instance of its own type *and* of ``TaskFailed``
(a subclass of both, made once per type), so ``except ValueError`` and the
older ``except TaskFailed`` both catch it; its ``str()`` reads
``"ValueError: message"`` like TaskFailed's, its ``args`` are the original's
``(message,)``, and ``remote_traceback`` holds the worker's traceback.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from .exceptions import TaskFailed

if TYPE_CHECKING:
    from .app import TaskQueue

ALWAYS_ALLOWED = frozenset({"builtins", "taskqueue.exceptions"})
"""Modules whose exception types are rebuilt for any app."""

_remote_types: dict[type[BaseException], type[BaseException] | None] = {}
_lock = threading.Lock()


def rebuild(app: TaskQueue, error: Any, traceback: str | None) -> BaseException:
    """The exception to raise for a stored failure ``error``."""
    err = error if isinstance(error, dict) else {}
    exc_type = str(err.get("exc_type", "Exception"))
    message = str(err.get("exc_message", error if error is not None else ""))
    cls = _allowed_type(app, err.get("exc_module"), exc_type)
    if cls is not None:
        rebuilt = _remote(cls, exc_type, message, traceback)
        if rebuilt is not None:
            return rebuilt
    return TaskFailed(exc_type, message, traceback)


def without_module(error: Any) -> Any:
    """A stored failure as ``get(propagate=False)`` shows it: ``exc_type`` and
    ``exc_message`` (``exc_module`` is for :func:`rebuild` only)."""
    if isinstance(error, dict) and "exc_module" in error:
        return {k: v for k, v in error.items() if k != "exc_module"}
    return error


def allowed_modules(app: TaskQueue) -> set[str]:
    modules = set(ALWAYS_ALLOWED)
    for task in app.tasks.values():
        modules.add(getattr(task.fn, "__module__", "") or "")
        modules.add(type(task).__module__)
    return modules


def _allowed_type(app: TaskQueue, module_name: Any, name: str) -> type[Exception] | None:
    if not isinstance(module_name, str) or module_name not in allowed_modules(app):
        return None
    module = sys.modules.get(module_name)  # imported already, or not at all
    cls = getattr(module, name, None) if module is not None else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls
    return None


def _remote(cls: type[Exception], exc_type: str, message: str, tb: str | None) -> Any:
    remote = _remote_type(cls)
    if remote is None:
        return None
    try:
        exc = remote.__new__(remote, message)
        cls.__init__(exc, message)
    except Exception:  # needs more than a message: not rebuildable
        return None
    exc.exc_type = exc_type  # type: ignore[attr-defined]
    exc.message = message  # type: ignore[attr-defined]
    exc.remote_traceback = tb  # type: ignore[attr-defined]
    return exc


def _remote_type(cls: type[Exception]) -> type[BaseException] | None:
    """``cls`` and TaskFailed in one type (None if Python refuses to combine them)."""
    with _lock:
        if cls in _remote_types:
            return _remote_types[cls]
        try:
            made: type[BaseException] | None = type(
                cls.__name__,
                (cls, TaskFailed),
                {
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "__str__": _remote_str,
                    "__init__": cls.__init__,
                    "__reduce__": _reduce_to_original,
                },
            )
        except TypeError:  # incompatible layouts
            made = None
        _remote_types[cls] = made
        return made


def _reduce_to_original(self: BaseException) -> tuple[Any, ...]:
    # Pickles (e.g. across a process pool) as the plain original type.
    return (type(self).__mro__[1], self.args)


def _remote_str(self: TaskFailed) -> str:
    return f"{self.exc_type}: {self.message}"
