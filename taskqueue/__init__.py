"""taskqueue: Celery's programming model on Apache Kafka.

from taskqueue import TaskQueue

app = TaskQueue("shop", broker="kafka://127.0.0.1:9092")

@app.task
def add(x, y):
    return x + y

add.delay(2, 3).get(timeout=10)   # a worker: python -m taskqueue worker -A shop

Celery's import paths have twins here (``from taskqueue import Celery, chain``,
``taskqueue.canvas``, ``taskqueue.result``, ``taskqueue.exceptions``,
``taskqueue.schedules``, ``taskqueue.signals``, ``taskqueue.utils.log``): docs/taskqueue.md,
"Differences from Celery".
"""

from . import states
from .app import TaskQueue, load_app
from .canvas import Signature, chain, chord, chunks, group, signature, xmap, xstarmap
from .config import Settings
from .exceptions import (
    ConfigurationError,
    DecodeError,
    MaxRetriesExceeded,
    MessageTooLarge,
    NotRegistered,
    PublishError,
    Retry,
    TaskFailed,
    TaskQueueError,
    TaskRevokedError,
    TimeoutError,
)
from .message import Message
from .middleware import Middleware
from .result import AsyncResult, GroupResult, ResultSet
from .shared import shared_task
from .states import READY_STATES, State
from .task import EagerResult, Request, Task

Celery = TaskQueue
"""Celery's name of the application class."""

__all__ = [
    "READY_STATES",
    "AsyncResult",
    "Celery",
    "ResultSet",
    "chunks",
    "signature",
    "states",
    "xmap",
    "xstarmap",
    "ConfigurationError",
    "DecodeError",
    "EagerResult",
    "GroupResult",
    "Signature",
    "chain",
    "chord",
    "group",
    "MaxRetriesExceeded",
    "Message",
    "MessageTooLarge",
    "Middleware",
    "NotRegistered",
    "PublishError",
    "Request",
    "Retry",
    "Settings",
    "State",
    "Task",
    "TaskFailed",
    "TaskQueue",
    "TaskQueueError",
    "TaskRevokedError",
    "TimeoutError",
    "load_app",
    "shared_task",
]
