"""The project's taskqueue app: configured from Django settings, tasks
discovered in the installed apps' `tasks` modules, the jobs app's lifecycle
middleware moving Job rows as workers report, and beat reading the
schedules edited in admin.

Named by ``TASKQUEUE_APP`` in settings: the apps' ``shared_task`` tasks
register on it, and ``manage.py worker``/``beat`` run it.
"""

import os

# As Celery's proj/celery.py does: a worker started with
# ``python -m taskqueue worker -A config.taskqueue`` (and its process-pool
# children, which import this module first) has no manage.py to name the
# settings, so the project names its own.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from taskqueue.contrib.django import discover_tasks, django_app  # noqa: E402

app = django_app("taskqueue-site")

# Imported after django_app() has set Django up.
from jobs.lifecycle import JobLifecycle  # noqa: E402
from jobs.schedules import DatabaseSchedule  # noqa: E402

app.middleware.add(JobLifecycle(app))
discover_tasks(app)
app.beat_source = DatabaseSchedule(app)  # type: ignore[attr-defined]
