"""Task hooks and task signals around one run of a body, in Celery's order.

::

    task_prerun -> before_start -> body
      SUCCESS: on_success, task_success
      FAILURE: on_failure, task_failure
      RETRY:   on_retry,   task_retry
    after_return (not for IGNORED/REJECTED) -> task_postrun

Used by the worker (``taskqueue.worker.execute``, in the pool: a thread or
a process-pool child) and by eager ``Task.apply``. ``before_start`` runs
inside the body's ``try``: its error is the task's. The other hooks run
after the attempt's outcome is decided and before the worker stores it;
one that raises is logged and changes nothing (the outcome stands).
"""

from __future__ import annotations

import logging
import traceback as tb
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import signals
from .exceptions import Retry
from .states import FAILURE, RETRY, SUCCESS

if TYPE_CHECKING:
    from .app import TaskQueue
    from .message import Message
    from .task import Request, Task

logger = logging.getLogger("taskqueue.task")

IGNORED = "IGNORED"
"""Outcome of a body that raised ``Ignore``: nothing stored, no hooks."""
REJECTED = "REJECTED"
"""How ``task_postrun`` reports a body that raised ``Reject``."""


class ExceptionInfo:
    """The ``einfo`` argument of ``on_failure``/``on_retry`` (Celery's fields)."""

    def __init__(self, exception: BaseException, traceback: str | None = None) -> None:
        self.exception = exception
        self.type = type(exception)
        self.tb = exception.__traceback__
        self.traceback = traceback or "".join(
            tb.format_exception(type(exception), exception, exception.__traceback__)
        )

    def __str__(self) -> str:
        return self.traceback

    def __repr__(self) -> str:
        return f"<ExceptionInfo: {self.exception!r}>"


def prerun(task: Task, request: Request) -> None:
    signals.task_prerun.send(
        sender=task, task_id=request.id, task=task, args=request.args, kwargs=request.kwargs
    )


def run_body(task: Task, request: Request) -> Any:
    """``before_start``, then the body: ``task.run``, or a class's own
    ``__call__`` (which Celery calls instead when a task class defines one)."""
    task.before_start(request.id, request.args, request.kwargs)
    if type(task).__call__ is not _base_call():
        request.calling = True  # Task.__call__ keeps the worker's request
        return task(*request.args, **request.kwargs)
    return task.run(*request.args, **request.kwargs)


def ended(
    task: Task,
    request: Request,
    state: str,
    retval: Any = None,
    exc: BaseException | None = None,
    traceback: str | None = None,
) -> None:
    """Call the hooks and send the signals of an attempt that ended ``state``.

    ``exc``: the failure's exception; for RETRY the :class:`Retry` raised.
    """
    task_id, args, kwargs = request.id, request.args, request.kwargs
    einfo = ExceptionInfo(exc, traceback) if exc is not None else None
    if state == SUCCESS:
        _hook(task, "on_success", lambda: task.on_success(retval, task_id, args, kwargs))
        signals.task_success.send(sender=task, result=retval)
    elif state == FAILURE and exc is not None and einfo is not None:
        retval = exc
        _hook(task, "on_failure", lambda: task.on_failure(exc, task_id, args, kwargs, einfo))
        signals.task_failure.send(
            sender=task,
            task_id=task_id,
            exception=exc,
            args=args,
            kwargs=kwargs,
            traceback=exc.__traceback__,
            einfo=einfo,
        )
    elif state == RETRY and exc is not None and einfo is not None:
        retval = exc
        cause = exc.exc if isinstance(exc, Retry) and exc.exc is not None else exc
        _hook(task, "on_retry", lambda: task.on_retry(cause, task_id, args, kwargs, einfo))
        signals.task_retry.send(sender=task, request=request, reason=exc, einfo=einfo)
    if state in (SUCCESS, FAILURE, RETRY):
        _hook(
            task,
            "after_return",
            lambda: task.after_return(state, retval, task_id, args, kwargs, einfo),
        )
    signals.task_postrun.send(
        sender=task,
        task_id=task_id,
        task=task,
        args=args,
        kwargs=kwargs,
        retval=retval,
        state=state,
    )


def worker_process_init() -> None:
    """In a process-pool child once its app is imported (receivers connected
    by the app's modules are connected here too)."""
    signals.worker_process_init.send(sender=None)


def revoked(app: TaskQueue, message: Message, error: dict[str, str] | None) -> None:
    """``task_revoked`` for a job that ended REVOKED (the worker's loop).

    Which kind of revoke it was is read from the stored error: ``Expired``
    (the expiry policy), a message saying "terminated" (a revoke with
    ``terminate``), otherwise revoked before or while it ran.
    """
    if not signals.task_revoked.has_listeners():
        return
    from .task import Request

    err = error or {}
    task = app.tasks.get(message.task)
    signals.task_revoked.send(
        sender=task if task is not None else message.task,
        request=Request.from_message(message, hostname=app.hostname),
        terminated="terminated" in str(err.get("exc_message", "")),
        signum=None,
        expired=err.get("exc_type") == "Expired",
    )


def _hook(task: Task, name: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:
        logger.exception("%s.%s raised; the outcome stands", task.name, name)


def _base_call() -> Any:
    from .task import Task

    return Task.__call__
