"""Tasks that hurt their own process-pool child; workers load this with ``-A``.

Same settings and base tasks as ``tasks_app`` (``TASKQUEUE_*`` variables),
plus bodies that die or hang the way production bodies do: killed by the
OS, stuck in C code that no signal handler reaches.
"""

from __future__ import annotations

import os
import signal
import time

from taskqueue import Task, TaskQueue

from .tasks_app import register

APP = __name__
"""What workers of the pool-child tests load with ``-A``."""


def _mark(app: TaskQueue, tag: str) -> None:
    key = f"{app.settings.key_prefix}:runs:{tag}"
    pipe = app.state_backend.client.pipeline()
    pipe.rpush(key, str(os.getpid()))
    pipe.expire(key, 900)
    pipe.execute()


def register_child_tasks(app: TaskQueue) -> dict[str, Task]:
    """Register these tasks (and, unless done already, ``tasks_app``'s)."""
    if "t.add" not in app.tasks:
        register(app)

    @app.task(name="c.dies_once")
    def dies_once(tag: str, marker: str) -> str:
        _mark(app, tag)
        try:
            # The first run creates the marker and dies like an OOM kill.
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return "survived"
        os.kill(os.getpid(), signal.SIGKILL)
        return "unreachable"

    @app.task(name="c.always_dies")
    def always_dies(tag: str) -> None:
        _mark(app, tag)
        os.kill(os.getpid(), signal.SIGKILL)

    @app.task(name="c.stuck", time_limit=1)
    def stuck(tag: str) -> str:
        _mark(app, tag)
        # Deaf to the child's own alarm and to SIGTERM, like a C call that
        # never returns to the interpreter: only killing the child stops it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})
        time.sleep(60)
        _mark(app, f"{tag}:done")
        return "finished"

    return {t.name: t for t in app.tasks.values() if t.name.startswith("c.")}


app = TaskQueue("tests.taskqueue.children")
tasks = register_child_tasks(app)
