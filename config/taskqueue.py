"""The project's taskqueue app: configured from Django settings, tasks
discovered in the installed apps' `tasks` modules, and the jobs app's
lifecycle middleware moving Job rows as workers report."""

from taskqueue.contrib.django import discover_tasks, django_app

app = django_app("taskqueue-site")

# Imported after django_app() has set Django up (a process-pool child
# imports this module before anything else).
from jobs.lifecycle import JobLifecycle  # noqa: E402

app.middleware.add(JobLifecycle(app))
discover_tasks(app)
