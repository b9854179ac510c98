from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The operations console (pages arrive with the console issue)."""

    name = "dashboard"
    verbose_name = "Console"
