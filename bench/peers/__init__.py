"""The systems the engine is compared with: django-tasks-db and Celery (Redis broker).

Each runs the same no-op task; the only per-task work beyond the call is what a
system needs to record that the task ran (django-tasks-db writes its result row,
the Celery task increments a Redis counter, since Celery runs without a result backend).
"""
