"""The benchmark: ``python -m bench [SCENARIO…]`` (see docs/BENCHMARKS.md).

``bench.main`` starts MariaDB and Redis with ``deploy.servers`` (or uses ``DATABASE_URL`` /
``REDIS_URL``) and runs the scenarios in ``bench.scenarios`` against the engine and its
peers (``bench.peers``: django-tasks-db and Celery with a Redis broker).
"""
