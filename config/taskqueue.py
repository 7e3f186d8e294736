"""The project's taskqueue app: configured from Django settings, tasks
discovered in the installed apps' `tasks` modules."""

from taskqueue.contrib.django import discover_tasks, django_app

app = django_app("taskqueue-site")
discover_tasks(app)
