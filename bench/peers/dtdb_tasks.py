"""The no-op task for django-tasks-db (``django.tasks``, Django's task framework)."""

from django.tasks import task


@task()
def noop() -> None:
    """Return at once."""
    return None
