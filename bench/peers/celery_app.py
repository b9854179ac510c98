"""The Celery app of the benchmark: Redis broker (``REDIS_URL``), no result backend.

``celery -A bench.peers.celery_app worker …``. The task increments a Redis counter
(``DONE_KEY``) so the benchmark can tell when the last task has run.
"""

import os
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_process_init

QUEUE = "bench"
DONE_KEY = "bench:celery:done"

app = Celery("bench", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600},
)

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return _client


@worker_process_init.connect
def _fresh_client(**_: Any) -> None:
    global _client
    _client = None  # a forked pool process opens its own connection


@app.task(name="bench.noop")
def noop() -> None:
    _redis().incr(DONE_KEY)
