"""A production instance for tests: PRODUCTION=1 settings in a subprocess, and ``manage.py serve`` serving them."""

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy import procs
from deploy.topology import http_request
from tests.support import ROOT
from tests.support.waiting import wait_for

#: The bearer token every production instance of the tests requires on /metrics.
METRICS_TOKEN = secrets.token_urlsafe(32)


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production instance: PRODUCTION=1 with a real SECRET_KEY and ALLOWED_HOSTS."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "TEST_DB_SOCKET", "TEST_DB_NAME", "DEBUG"}
           and not k.startswith("JOBS_")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "engine_site.settings",
        "PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "METRICS_TOKEN": METRICS_TOKEN,
        "ALLOWED_HOSTS": "jobs.example.com,127.0.0.1",
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def production_instance(env: dict[str, str], log: Path) -> Iterator[int]:
    """Migrate ``env``'s database, serve it with ``manage.py serve`` until the block ends; yields the port."""
    migrated = manage(env, "migrate", "--noinput", timeout=600)
    assert migrated.returncode == 0, migrated.stderr
    port = procs.free_port()
    proc = procs.web(port, env=env, log=log)

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return http_request(port, "GET", "/api/health", timeout=15)[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=90, interval=0.2, what="the production instance")
        yield port
    finally:
        procs.stop(proc, timeout=15)
