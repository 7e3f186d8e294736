"""``get_task_logger(__name__)``: Celery's task logger, on :mod:`logging`.

As in Celery, a task logger keeps its name (``shop.tasks``) but its
records propagate to the ``taskqueue.task`` logger rather than to the
module's package, so one handler or level there covers every task module.
Its records carry the running job's ``task_id`` and ``task_name`` (``"???"``
outside a task), for formats such as
``"%(task_name)s[%(task_id)s]: %(message)s"``.
"""

from __future__ import annotations

import logging

from ..task import current_request

TASK_LOGGER = "taskqueue.task"
"""The parent of every task logger."""

UNKNOWN = "???"
"""``task_id`` / ``task_name`` of a record logged outside a running task."""


class TaskContextFilter(logging.Filter):
    """Adds the running job's id and task name to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        record.task_id = request.id if request else UNKNOWN
        record.task_name = request.task if request else UNKNOWN
        return True


_FILTER = TaskContextFilter()


def get_task_logger(name: str) -> logging.Logger:
    """The logger named ``name``, propagating to ``taskqueue.task``."""
    logger = logging.getLogger(name)
    if name != TASK_LOGGER:
        logger.parent = logging.getLogger(TASK_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def get_logger(name: str) -> logging.Logger:
    """Celery's ``get_logger``: a plain logger."""
    return logging.getLogger(name)
