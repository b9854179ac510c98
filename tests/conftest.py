"""Real servers for the suite: MariaDB and Redis started by pytest-mysql/pytest-redis.

The MariaDB pass (``JOBS_TEST_DB=mariadb``) fails loudly when a server cannot start:
there is no skip and no fake.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_mysql import factories as mysql_factories
from pytest_redis import factories as redis_factories

from deploy import procs
from tests.redis_settings import use_redis

ROOT = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("JOBS_TEST_DB", "sqlite")
USE_REDIS = BACKEND == "mariadb" or os.environ.get("JOBS_TEST_REDIS") == "1"

mysql_proc = mysql_factories.mysql_proc()
redis_proc = redis_factories.redis_proc()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "mariadb":
        return
    skip = pytest.mark.skip(reason="needs the real servers (row locks, Redis): covered by the MariaDB pass")
    for item in items:
        if "mariadb" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Start the servers this pass needs; a start failure is an error, never a skip."""
    info: dict[str, Any] = {"backend": BACKEND, "redis_url": None, "socket": None}
    if BACKEND == "mariadb":
        if not shutil.which("mariadbd") and not Path("/usr/sbin/mariadbd").exists():
            pytest.fail("MariaDB is not installed: run `make test` (it installs mariadb-server)", pytrace=False)
        proc = request.getfixturevalue("mysql_proc")
        info["socket"] = proc.unixsocket
    if USE_REDIS:
        if not shutil.which("redis-server"):
            pytest.fail("Redis is not installed: run `make test` (it installs redis-server)", pytrace=False)
        rproc = request.getfixturevalue("redis_proc")
        info["redis_url"] = f"redis://{rproc.host}:{rproc.port}/0"
    return info


@pytest.fixture(scope="session")
def django_db_modify_db_settings(servers: dict[str, Any]) -> None:
    from django.conf import settings

    if servers["socket"]:
        settings.DATABASES["default"]["HOST"] = servers["socket"]
    use_redis(settings, servers["redis_url"])


@pytest.fixture
def tenant(db: None) -> Any:
    from tenants.models import Tenant

    return Tenant.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_tenant(db: None) -> Any:
    from tenants.models import Tenant

    return Tenant.objects.create(name="Globex", slug="globex")


@pytest.fixture
def worker_env(servers: dict[str, Any], transactional_db: None) -> dict[str, str]:
    """Environment for a worker subprocess that opens this test's database."""
    from django.db import connection

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONPATH"] = str(ROOT)
    if servers["backend"] == "mariadb":
        env["TEST_DB_SOCKET"] = servers["socket"]
        env["TEST_DB_NAME"] = connection.settings_dict["NAME"]
    else:
        env["SQLITE_PATH"] = connection.settings_dict["NAME"]
    if servers["redis_url"]:
        env["REDIS_URL"] = servers["redis_url"]
    return env


class Workers:
    """``manage.py runworkers`` subprocesses started by a test, stopped at its end."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = procs.spawn([sys.executable, str(ROOT / "manage.py"), "runworkers", *args],
                           env={**self.env, **(env or {})}, log=self.tmp_path / f"workers-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def log(self, index: int = 0) -> str:
        return (self.tmp_path / f"workers-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # every supervisor drains at once
        for proc in self.procs:
            procs.stop(proc, timeout=30)


class DaphneServer:
    """``daphne engine_site.asgi:application`` on 127.0.0.1 with a test database's environment."""

    def __init__(self, env: dict[str, str], log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.proc = procs.daphne(self.port, env={**env, "LOG_LEVEL": "INFO", **(extra_env or {})}, log=log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=10) as resp:  # noqa: S310 (127.0.0.1)
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self) -> None:
        wait_for(self.healthy, timeout=60, interval=0.2, what="daphne to answer /api/health")

    def stop(self) -> None:
        procs.stop(self.proc, timeout=15)


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    w = Workers(worker_env, tmp_path)
    yield w
    w.stop_all()


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 60, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def inprocess_worker(transactional_db: None, servers: dict[str, Any]) -> Iterator[Any]:
    from tests.runtime import InProcessWorker

    worker = InProcessWorker()
    yield worker
    worker.stop()
