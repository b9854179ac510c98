"""The benchmark: ``python manage.py bench [SCENARIO…]`` (see docs/BENCHMARKS.md).

``bench.main`` starts MariaDB and Redis (or uses ``DATABASE_URL`` / ``REDIS_URL``) and
runs the scenarios in ``bench.scenarios`` against the engine and its peers
(``bench.peers``: django-tasks-db and Celery with a Redis broker).
"""
