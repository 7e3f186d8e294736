from django.apps import AppConfig


class JobsConfig(AppConfig):
    """The system of record for submitted jobs (model, GraphQL, admin, commands)."""

    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"
