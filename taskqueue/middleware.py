"""Lifecycle hooks: features plug in here instead of subclassing the worker.

Hooks are typed methods, called by name in code (never built with
``getattr("before_" + name)``), so a typo fails at import time.

Error policy, stated once: a hook that raises is logged with the job's id.
If its middleware has ``abort_on_error = True``, an error in
``before_publish`` aborts the publish (the caller gets the exception) and an
error in ``started`` fails the job before the task body runs. Errors in the
other hooks never change the job's fate, which is already decided when they
run.

Where hooks run: publish hooks in the publishing process; ``received``,
``succeeded``, ``failed``, ``retried`` in the worker's main process;
``started`` in the pool (a thread, or the child process of a process pool).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .message import Message

logger = logging.getLogger("taskqueue.middleware")


class Middleware:
    """Subclass and override the hooks you need; all default to no-ops."""

    abort_on_error: bool = False
    """Whether an error in ``before_publish``/``started`` aborts (see module doc)."""

    options: frozenset[str] = frozenset()
    """Task options this middleware owns; ``@app.task`` accepts only declared ones."""

    def before_publish(self, message: Message) -> None: ...

    def after_publish(self, message: Message) -> None: ...

    def received(self, message: Message) -> None: ...

    def started(self, message: Message) -> None: ...

    def succeeded(self, message: Message, result: Any, runtime: float) -> None: ...

    def failed(self, message: Message, error: dict[str, Any]) -> None: ...

    def retried(self, message: Message, error: dict[str, Any], countdown: float | None) -> None: ...


class MiddlewareChain:
    """Calls every middleware's hook in order, applying the error policy."""

    def __init__(self, middleware: Iterable[Middleware] = ()) -> None:
        self._items: list[Middleware] = list(middleware)

    def add(self, middleware: Middleware) -> None:
        self._items.append(middleware)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def declared_options(self) -> frozenset[str]:
        names: set[str] = set()
        for m in self._items:
            names |= m.options
        return frozenset(names)

    def _call(self, hook: str, message: Message, abortable: bool, args: Sequence[Any]) -> None:
        for m in self._items:
            try:
                getattr(m, hook)(message, *args)
            except Exception:
                logger.exception(
                    "middleware %s.%s failed (task %s, id %s)",
                    type(m).__name__,
                    hook,
                    message.task,
                    message.id,
                )
                if abortable and m.abort_on_error:
                    raise

    # One typed method per hook, so call sites are checked statically.
    def before_publish(self, message: Message) -> None:
        self._call("before_publish", message, True, ())

    def after_publish(self, message: Message) -> None:
        self._call("after_publish", message, False, ())

    def received(self, message: Message) -> None:
        self._call("received", message, False, ())

    def started(self, message: Message) -> None:
        self._call("started", message, True, ())

    def succeeded(self, message: Message, result: Any, runtime: float) -> None:
        self._call("succeeded", message, False, (result, runtime))

    def failed(self, message: Message, error: dict[str, Any]) -> None:
        self._call("failed", message, False, (error,))

    def retried(self, message: Message, error: dict[str, Any], countdown: float | None) -> None:
        self._call("retried", message, False, (error, countdown))
