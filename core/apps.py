from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What the whole site shares: home, health, the dataset API, accounts, rate limits, errors."""

    name = "core"
    verbose_name = "QueryLab site"
