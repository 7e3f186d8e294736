"""The jobs app's own task: ``jobs.run_schedule``, fired by beat (see jobs/schedules.py).

Registered on the project's app (``TASKQUEUE_APP``) by ``shared_task``, so
this app never imports the project; the project makes its beat read the
``PeriodicSchedule`` table (config/taskqueue.py).
"""

from __future__ import annotations

from typing import Any

from jobs import schedules
from taskqueue import Task
from taskqueue.contrib.django import shared_task


@shared_task(name=schedules.RUN_TASK, bind=True, max_retries=3)
def run_schedule(self: Task, schedule_id: int) -> dict[str, Any]:
    return schedules.fire(schedule_id, run_id=str(self.request.id))
