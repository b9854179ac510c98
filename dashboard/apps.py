from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The operations console: server-rendered pages, HTMX-enhanced, live over SSE (see ``dashboard.live``)."""

    name = "dashboard"
    verbose_name = "Console"
