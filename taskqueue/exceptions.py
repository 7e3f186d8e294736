"""Every error the framework raises on purpose, in one place."""

from __future__ import annotations

from typing import Any


class TaskQueueError(Exception):
    """Base class of the framework's errors."""


class ConfigurationError(TaskQueueError, ValueError):
    """A setting is unknown or malformed; the message names it."""


class DecodeError(TaskQueueError):
    """A message body could not be decoded into an envelope."""


class InvalidEnvelope(DecodeError):
    """A message body is a JSON object, but a part of it has the wrong shape;
    the message names the part (``callbacks[0].task``, ``headers.tq_chord.size``)."""


class MessageTooLarge(TaskQueueError):
    """An encoded message exceeds the configured ``max_message_bytes``."""


class PublishError(TaskQueueError):
    """Kafka did not confirm a publish. The job may still have been stored
    (``outcome_unknown``: a lost acknowledgement looks the same as a lost
    record); sending it again with the same ``task_id`` is safe, since a job
    id runs once. ``job_ids`` names the jobs concerned, when known."""

    job_ids: list[str]
    outcome_unknown: bool

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.job_ids = []
        self.outcome_unknown = True


class NotRegistered(TaskQueueError, KeyError):
    """No task with this name is registered in the app."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "task not registered"


class TimeoutError(TaskQueueError):  # noqa: A001 - mirrors celery.exceptions
    """Waiting for a result took longer than the caller allowed."""


class TaskRevokedError(TaskQueueError):
    """The job was revoked before it finished."""


class TaskFailed(TaskQueueError):
    """A task failed in a worker; raised by ``AsyncResult.get(propagate=True)``.

    The original exception cannot be rebuilt safely from another process, so
    its type name, message and traceback travel as data.
    """

    def __init__(self, exc_type: str, message: str, traceback: str | None = None) -> None:
        super().__init__(f"{exc_type}: {message}")
        self.exc_type = exc_type
        self.message = message
        self.remote_traceback = traceback

    def __getitem__(self, key: str) -> str:
        """``info["exc_type"]``/``["exc_message"]``: the dict ``AsyncResult.info``
        gave for a failure before it held the exception (kept for old callers)."""
        return {"exc_type": self.exc_type, "exc_message": self.message}[key]


class Retry(TaskQueueError):
    """Raised by ``Task.retry()`` to ask the worker to run the job again."""

    def __init__(
        self, message: str = "", exc: BaseException | None = None, countdown: float | None = None
    ) -> None:
        super().__init__(message or (repr(exc) if exc else "retry requested"))
        self.exc = exc
        self.countdown = countdown
        self.retry_args: tuple[Any, ...] | None = None
        """Arguments of the next attempt (``self.retry(args=...)``); None keeps them."""
        self.retry_kwargs: dict[str, Any] | None = None


class MaxRetriesExceeded(TaskQueueError):
    """``Task.retry()`` was called after ``max_retries`` attempts."""


class Reject(TaskQueueError):  # noqa: N818 - Celery's name
    """Raised by a task body to reject its message (Celery's ``Reject``).

    ``requeue=False``: the job ends FAILURE without retrying and its message
    goes to the queue's dead-letter topic with ``tq-dead-reason: rejected``
    (Kafka's analogue of RabbitMQ's dead-letter exchange). ``requeue=True``:
    the message is published again for another worker (as a new attempt:
    Kafka cannot put a record back). No ``on_failure``/``after_return`` hook
    runs, as in Celery.
    """

    def __init__(self, reason: object = None, requeue: bool = False) -> None:
        super().__init__(reason, requeue)
        self.reason = reason
        self.requeue = requeue

    def __str__(self) -> str:
        return f"rejected (requeue={self.requeue}): {self.reason}"


class Ignore(TaskQueueError):  # noqa: N818 - Celery's name
    """Raised by a task body so that the worker records nothing more for its
    job (Celery's ``Ignore``): no result, no hooks; whatever state the body
    stored itself (``update_state``) stays. A redelivered copy runs again,
    since no final state marks the job done."""


class SoftTimeLimitExceeded(TaskQueueError):
    """Raised inside a task body at its ``soft_time_limit``; the task may catch it."""


class TimeLimitExceeded(TaskQueueError):
    """A task body ran past its ``time_limit`` and was stopped (the job fails)."""


class HardTimeLimit(BaseException):  # noqa: N818 - not an error the task should handle
    """Injected into a body at its ``time_limit``: a BaseException, so a task's
    ``except Exception`` cannot swallow it. The executor reports it as
    :class:`TimeLimitExceeded`."""


# --- Celery's names for the same concepts (``from taskqueue.exceptions import ...``
# works where ``from celery.exceptions import ...`` did) --------------------------

MaxRetriesExceededError = MaxRetriesExceeded
"""Celery's name of :class:`MaxRetriesExceeded`."""

TaskError = TaskQueueError
"""Celery's base of task errors; ours is :class:`TaskQueueError`."""
