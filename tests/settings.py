"""Test settings: the product's settings, plus test task types and fast timings.

``JOBS_TEST_DB=mariadb`` points the suite at the MariaDB server the tests start
(pytest-mysql fills in its socket); anything else runs on the SQLite default.
Worker subprocesses started by tests get ``TEST_DB_SOCKET``/``TEST_DB_NAME``.
"""

import os

from engine_site.settings import *  # noqa: F403
from engine_site.settings import INSTALLED_APPS, VAR_DIR

INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]

#: The test web servers keep their connections as production does (CONN_MAX_AGE 60 in
#: engine_site.settings; DAPHNE_ENV in tests/conftest.py sets this); elsewhere tests close them.
_CONN = {"CONN_MAX_AGE": int(os.environ.get("TEST_CONN_MAX_AGE", "0")), "CONN_HEALTH_CHECKS": True}

if os.environ.get("JOBS_TEST_DB") == "mariadb":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("TEST_DB_NAME", "jobs"),
            "USER": "root",
            "PASSWORD": "",
            # A unix socket: Debian's MariaDB authenticates root by the OS user.
            "HOST": os.environ.get("TEST_DB_SOCKET", "/nonexistent/filled-in-by-conftest.sock"),
            "PORT": "",
            "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
            **_CONN,
        }
    }
else:
    # One file per test run, so concurrent runs on one machine never share a database.
    test_db = os.environ.get("SQLITE_TEST_PATH", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # Worker subprocesses open the test database itself.
            "NAME": os.environ.get("SQLITE_PATH", test_db),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;",
            },
            "TEST": {"NAME": test_db},
            **_CONN,
        }
    }

REDIS_URL = os.environ.get("REDIS_URL") or None

# Fast timings so crash, retry and timeout paths run in seconds.
JOBS = {
    "RETRY_BASE_DELAY": 0.05,
    "RETRY_MAX_DELAY": 1.0,
    "LEASE_SECONDS": 4.0,
    "HEARTBEAT_SECONDS": 1.0,
    "RESCUE_SECONDS": 0.5,
    "POLL_SECONDS": float(os.environ.get("JOBS_TEST_POLL_SECONDS", "0.5")),
    "PROMOTE_SECONDS": 0.1,
    "DRAIN_SECONDS": 5.0,
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# django.tasks through the engine (tests/test_django_tasks.py).
TASKS = {"default": {"BACKEND": "jobs.contrib.django_tasks.EngineBackend", "OPTIONS": {"TENANT": "acme"}}}

# Login throttling stays on (the login path is exercised as deployed) with a limit no test meets by
# accident; tests/security/test_operators.py lowers it to prove the lockout.
AXES_FAILURE_LIMIT = 1_000_000
