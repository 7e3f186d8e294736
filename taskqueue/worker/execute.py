"""Running one job's task body: the only place task code is called.

It runs in the pool (a thread, or a child process of the process pool),
never in the poll loop. It turns whatever the task does (return, raise,
``self.retry()``) into an :class:`Outcome`, a small picklable record that the
loop turns into state writes, result documents and follow-up messages.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import lifecycle
from ..control.terminate import running
from ..exceptions import (
    HardTimeLimit,
    Ignore,
    NotRegistered,
    Reject,
    Retry,
    TaskFailed,
    TaskRevokedError,
    TimeLimitExceeded,
)
from ..lifecycle import IGNORED
from ..message import Message
from ..middleware import Admission, Execution, Stage
from ..policies.revoke import REVOKED_ERROR
from ..serialization import tagged_data
from ..states import FAILURE, RETRY, REVOKED, SUCCESS
from ..task import Request, RequestContext, run_body
from .caps import RESULT_TOO_LARGE, oversized_result, too_large
from .events import StartResult

if TYPE_CHECKING:
    from ..app import TaskQueue
    from ..task import Task

logger = logging.getLogger("taskqueue.worker")


@dataclass(slots=True)
class Outcome:
    """How one attempt ended. ``error`` is ``{"exc_type", "exc_message"}``."""

    state: str
    result: Any = None
    error: dict[str, str] | None = None
    traceback: str | None = None
    countdown: float | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    dead_reason: str = "failed"
    """``tq-dead-reason`` of a FAILURE's dead letter (``poison``: it kept killing
    its pool process)."""
    dead_headers: tuple[tuple[str, bytes], ...] = ()
    """More headers for that dead letter."""
    ignored_result: bool = False
    """SUCCESS of an ``ignore_result`` task: its value is not stored."""
    retry_args: tuple[Any, ...] | None = None
    retry_kwargs: dict[str, Any] | None = None
    """RETRY: new arguments of the next attempt (``self.retry(args=, kwargs=)``)."""

    @property
    def runtime(self) -> float:
        return self.finished_at - self.started_at


def error_info(exc: BaseException) -> dict[str, str]:
    """A failure as stored; ``exc_module`` lets ``AsyncResult.get()`` rebuild
    the type where that is safe (``taskqueue.remote_errors``)."""
    return {
        "exc_type": type(exc).__name__,
        "exc_message": str(exc),
        "exc_module": type(exc).__module__,
    }


def execute(
    app: TaskQueue,
    message: Message,
    delivery_info: dict[str, Any],
    redelivered: bool,
    report_started: Callable[[Message, float], StartResult],
    abandon: Callable[[], None] | None = None,
) -> Outcome:
    """Run the task of ``message`` once and describe how it ended.

    ``abandon`` (thread pool) is called if the body outlives its hard time
    limit; None in a process-pool child, where a signal stops the body.
    The task's hooks and signals fire here (``taskqueue.lifecycle``), in
    the pool, before the loop stores the outcome.
    """
    started = time.time()
    try:
        task = app.get_task(message.task)
        refused = _refused(app, message, started)
        if refused is not None:
            return refused
        start = report_started(message, started)
        if start is StartResult.REFUSED:  # found final (revoked) when storing STARTED
            return Outcome(
                REVOKED, error=dict(REVOKED_ERROR), started_at=started, finished_at=started
            )
        app.middleware.started(message)
    except Exception as exc:  # an unknown task, a failing policy or middleware
        return _failed(app, message, exc, started)
    request = Request.from_message(
        message, delivery_info=delivery_info, redelivered=redelivered, hostname=app.hostname
    )
    request.started_pending = start is StartResult.QUEUED
    # running(): lets Revoke(terminate) interrupt this body (taskqueue.control).
    execution = Execution(message, task, in_child=_child_app is not None, abandon=abandon)
    with RequestContext(request), running(message.id):
        lifecycle.prerun(task, request)
        outcome, cause, retval = _run(app, task, execution, request, started)
        if outcome.state != REVOKED:  # a revoke sends task_revoked, from the loop
            state = _hook_state(outcome, cause)
            lifecycle.ended(task, request, state, retval, cause, outcome.traceback)
    if outcome.state == SUCCESS and task.ignore_result:
        # Links and chords still get the value (jobs.py keeps it for them);
        # storing it is what ignore_result drops.
        outcome.ignored_result = True
    return outcome


def _run(
    app: TaskQueue, task: Task, execution: Execution, request: Request, started: float
) -> tuple[Outcome, BaseException | None, Any]:
    """The body (and ``before_start``) under the middleware; the outcome, and
    for the hooks the exception behind it and the value the body returned
    (the outcome holds its stored form)."""
    outcome, cause = _attempt(app, task, execution, request, started)
    if outcome.state != SUCCESS:
        return outcome, cause, None
    value = outcome.result
    # Stored, sent to links and chords, and read by AsyncResult in one form:
    # JSON with dates, decimals, UUIDs and bytes tagged as in messages.
    try:
        outcome.result = tagged_data(value)
    except (TypeError, ValueError) as exc:  # no JSON for it, even tagged: not storable
        refused = TypeError(f"result of {task.name} is not JSON-serializable: {exc}")
        # Never retried: the same value would come back.
        failed = Outcome(
            FAILURE, error=error_info(refused), started_at=started, finished_at=outcome.finished_at
        )
        return failed, refused, None
    # A result the store cannot hold is this job's failure, now: never
    # a write that the store refuses on every retry.
    oversized = oversized_result(outcome.result, app.settings.result_max_bytes)
    if oversized is None:
        return outcome, None, value
    return too_large(outcome, oversized), TaskFailed(RESULT_TOO_LARGE, oversized), None


def _attempt(
    app: TaskQueue, task: Task, execution: Execution, request: Request, started: float
) -> tuple[Outcome, BaseException | None]:
    """The body under the middleware, as an outcome (SUCCESS: the value as
    returned) and the exception behind it."""
    message = execution.message
    try:
        value = app.middleware.execute(app, execution, lambda: run_body(task, request))
    except Ignore as exc:
        return Outcome(IGNORED, started_at=started, finished_at=time.time()), exc
    except Reject as exc:
        return _rejected(app, task, message, exc, started), exc
    except Retry as exc:
        outcome = Outcome(
            RETRY,
            error=error_info(exc.exc or exc),
            traceback=_format(exc.exc),
            countdown=exc.countdown,
            started_at=started,
            finished_at=time.time(),
            retry_args=exc.retry_args,
            retry_kwargs=exc.retry_kwargs,
        )
        return outcome, exc
    except HardTimeLimit as exc:  # a BaseException: task code cannot swallow it
        limit = TimeLimitExceeded(str(exc) or "time limit exceeded")
        outcome = Outcome(
            FAILURE,
            error=error_info(limit),
            traceback=tb.format_exc(),
            started_at=started,
            finished_at=time.time(),
        )
        return outcome, limit
    except TaskRevokedError as exc:  # terminated by a revoke: never retried
        outcome = Outcome(
            REVOKED,
            error={"exc_type": "Revoked", "exc_message": str(exc) or "terminated by a revoke"},
            started_at=started,
            finished_at=time.time(),
        )
        return outcome, exc
    except Exception as exc:
        outcome = _failed(app, message, exc, started)
        if outcome.state == RETRY:
            return outcome, Retry(exc=exc, countdown=outcome.countdown)
        return outcome, exc
    return Outcome(SUCCESS, result=value, started_at=started, finished_at=time.time()), None


def _failed(app: TaskQueue, message: Message, exc: Exception, started: float) -> Outcome:
    """FAILURE, or RETRY when the task retries this error automatically."""
    task_or_none = app.tasks.get(message.task)
    if task_or_none is not None and task_or_none.should_autoretry(exc, message.retries):
        return Outcome(
            RETRY,
            error=error_info(exc),
            traceback=tb.format_exc(),
            countdown=app.middleware.retry_delay(app, task_or_none, message, exc),
            started_at=started,
            finished_at=time.time(),
        )
    return Outcome(
        FAILURE,
        error=error_info(exc),
        traceback=tb.format_exc(),
        started_at=started,
        finished_at=time.time(),
    )


def _rejected(app: TaskQueue, task: Task, message: Message, exc: Reject, started: float) -> Outcome:
    """``Reject``: requeued as the next attempt, or FAILURE and dead-lettered."""
    logger.info("job %s (%s) rejected (requeue=%s): %s", message.id, task.name, exc.requeue, exc)
    now = time.time()
    if exc.requeue:  # Kafka cannot put a record back: a new attempt, at once
        return Outcome(RETRY, error=error_info(exc), started_at=started, finished_at=now)
    return Outcome(
        FAILURE,
        error=error_info(exc),
        traceback=tb.format_exc(),
        started_at=started,
        finished_at=now,
        dead_reason="rejected",
    )


def _hook_state(outcome: Outcome, exc: BaseException | None) -> str:
    """The state the hooks see: Celery reports a rejected body as REJECTED."""
    return lifecycle.REJECTED if isinstance(exc, Reject) else outcome.state


def _refused(app: TaskQueue, message: Message, now: float) -> Outcome | None:
    """Asked right before the body starts: policies may refuse the job
    (expired, or revoked while it waited in the pool's queue)."""
    admission = Admission(message, Stage.STARTING, now)
    app.middleware.admit(app, [admission])
    verdict = admission.verdict
    if verdict is None:
        return None
    return Outcome(verdict.state, error=verdict.error, started_at=now, finished_at=now)


def _format(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))


# --- process pool: the child side --------------------------------------------
_child_app: TaskQueue | None = None


def init_child(app_spec: str) -> None:
    """Initializer of each pool process: import the app (and its tasks)."""
    global _child_app
    import signal

    from ..app import load_app

    # The parent decides about shutdown; a terminal Ctrl-C must not kill
    # children mid-task before the parent's warm shutdown runs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _child_app = load_app(app_spec)
    lifecycle.worker_process_init()


def _started_directly(message: Message, started: float) -> StartResult:
    """In a child process the loop is elsewhere: write STARTED ourselves.

    The write's answer doubles as the revocation check before start:
    REFUSED when the stored state is final already (revoked meanwhile)."""
    from ..stores.state import SUPERSEDED, StateUpdate

    assert _child_app is not None
    store = _child_app.state_backend
    try:
        update = StateUpdate(
            message.id, "STARTED", message.retries, task=message.task, worker=_child_app.hostname
        )
        code = store.write(update)[0]
    except Exception as exc:
        if not store.owns_error(exc):
            raise
        # The store is down: not this job's fault. STARTED only informs;
        # the body runs, and its outcome waits in the loop for the store.
        logger.warning("job %s: STARTED not stored (%s): %s", message.id, store.service, exc)
        return StartResult.QUEUED
    return StartResult.REFUSED if code == SUPERSEDED else StartResult.STORED


def run_in_child(data: bytes, delivery_info: dict[str, Any], redelivered: bool) -> Outcome:
    if _child_app is None:
        raise NotRegistered("process pool child was not initialised with an app")
    return execute(_child_app, Message.decode(data), delivery_info, redelivered, _started_directly)
