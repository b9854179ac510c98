"""Settings of the benchmark's own process and of its peers (django-tasks-db, Celery).

The engine's settings plus django-tasks-db, Django's reference database backend for
``django.tasks``. The engine's own processes (workers, the web tier) run with the plain
``engine_site.settings``; every process reads the same ``DATABASE_URL`` and ``REDIS_URL``.
"""

from engine_site.settings import *  # noqa: F403
from engine_site.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_db"]

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
