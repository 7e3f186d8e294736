from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    """The provider tasks (weather, quotes, exchange rates, GitHub)."""

    name = "providers"
