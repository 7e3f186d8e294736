from django.apps import AppConfig


class ProgressConfig(AppConfig):
    """Live progress to browsers and the clients of the workers' control plane."""

    name = "progress"

    def ready(self) -> None:
        from progress.credentials import connect_signals

        connect_signals()
