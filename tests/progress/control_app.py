"""Tasks the control-plane tests run on real workers (``-A tests.progress.control_app``).

Settings come from ``TASKQUEUE_*`` variables the tests set (isolated topic
prefix, key prefix, database, exchange); tests build an app with the same
settings and tasks through :func:`register`.
"""

from __future__ import annotations

import time

from taskqueue import Task, TaskQueue


def register(app: TaskQueue) -> dict[str, Task]:
    @app.task(name="c.steps", bind=True)
    def steps(self: Task, count: int, delay: float) -> int:
        """Reports progress ``i/count`` then sleeps ``delay``, ``count`` times."""
        for i in range(1, count + 1):
            self.progress(i, count, f"step {i}")
            time.sleep(delay)
        return count

    return {"steps": steps}


app = TaskQueue("control-tests")
register(app)
