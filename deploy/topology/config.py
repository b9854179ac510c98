"""What the topology's engine processes run with: production settings, short timings on demand."""

import os
from collections.abc import Mapping

from ..procs import ProcessError

#: Short engine timings (``JOBS_<KEY>``) for tests and the chaos run: a dead worker's tasks are
#: rescued within LEASE + RESCUE ≈ 5 s instead of 25 s.
FAST_TIMINGS: dict[str, str] = {
    "JOBS_LEASE_SECONDS": "4",
    "JOBS_HEARTBEAT_SECONDS": "1",
    "JOBS_RESCUE_SECONDS": "1",
    "JOBS_POLL_SECONDS": "0.5",
    "JOBS_RETRY_BASE_DELAY": "0.1",
    "JOBS_DRAIN_SECONDS": "10",
}
#: Submissions a tenant may make per window in the topology (load tests, chaos).
HIGH_RATE_LIMIT = "100000000"

#: Variables of the calling environment that must not leak into the topology's processes.
_SCRUBBED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_PATH", "SQLITE_TEST_PATH",
             "TEST_DB_SOCKET", "TEST_DB_NAME", "INSTANCE_ID", "VAR_DIR", "PRODUCTION", "SECRET_KEY",
             "ALLOWED_HOSTS", "DEBUG", "METRICS_TOKEN")


class TopologyError(ProcessError):
    """Something in the topology did not start (the message says what, with its log's tail)."""


def engine_env(*, root: str, database_url: str, redis_url: str, nginx_port: int, secret_key: str, var_dir: str,
               extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of every engine process: the caller's, scrubbed, plus production settings."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    origins = f"http://127.0.0.1:{nginx_port},http://localhost:{nginx_port}"
    env.update({
        "DJANGO_SETTINGS_MODULE": "engine_site.settings",
        "PYTHONPATH": root,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # What production runs (docker-compose.yml): plain HTTP behind nginx on loopback.
        "PRODUCTION": "1",
        "SECRET_KEY": secret_key,
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": origins,
        "LOG_FORMAT": "json",
        "VAR_DIR": var_dir,
        "JOBS_API_RATE_LIMIT": HIGH_RATE_LIMIT,
        # The load tests and the chaos run submit noop and sleep, which production leaves unregistered.
        "JOBS_DEMO_TYPES": "1",
    })
    env.update(extra)
    return env
