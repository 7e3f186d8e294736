"""The jobs app's own task: ``jobs.run_schedule``, fired by beat (see jobs/schedules.py).

Imported by ``discover_tasks`` in config/taskqueue.py, which also makes the
project app's beat read the ``PeriodicSchedule`` table.
"""

from __future__ import annotations

from typing import Any

from config.taskqueue import app
from jobs import schedules
from taskqueue import Task


@app.task(name=schedules.RUN_TASK, bind=True, max_retries=3)
def run_schedule(self: Task, schedule_id: int) -> dict[str, Any]:
    return schedules.fire(schedule_id, run_id=str(self.request.id))


app.beat_source = schedules.DatabaseSchedule(app)  # type: ignore[attr-defined]
