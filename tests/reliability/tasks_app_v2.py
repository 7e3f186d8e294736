"""The next version of the suite's tasks, for the rolling-deploy scenario:
everything of :mod:`tests.reliability.tasks_app` plus a task the old
version does not know (``rel.work_v2``). Its workers load this with ``-A``.
"""

from __future__ import annotations

import time

from taskqueue import Task, TaskQueue

from .tasks_app import ended, register_reliability, started

APP = __name__
"""What the new version's workers load with ``-A``."""

NEW_TASK = "rel.work_v2"


def register_new_task(app: TaskQueue) -> Task:
    """The new task (also on the test's own app: a client of the new version
    sends it while old workers still run)."""

    @app.task(name=NEW_TASK, bind=True)
    def work_v2(self: Task, i: int, seconds: float) -> int:
        started(app, self.request.id)
        time.sleep(seconds)
        ended(app, self.request.id)
        return i

    return work_v2


app = TaskQueue("tests.reliability.v2")
register_reliability(app)
register_new_task(app)
