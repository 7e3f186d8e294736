from django.apps import AppConfig


class TaskQueueDjangoConfig(AppConfig):
    """Gives a Django project the `worker`, `beat` and `create_topics` commands."""

    name = "taskqueue.contrib.django"
    label = "taskqueue_django"
    verbose_name = "taskqueue"
