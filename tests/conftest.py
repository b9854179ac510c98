"""The fixtures every test folder shares: real servers (MariaDB and Redis started by
pytest-mysql/pytest-redis), tenants, worker processes, a daphne server and SSE clients.

The MariaDB pass (``JOBS_TEST_DB=mariadb``) fails loudly when a server cannot start:
there is no skip and no fake.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id  # an item's node id is this private NodeId since pytest 9
from pytest_mysql import factories as mysql_factories
from pytest_redis import factories as redis_factories

from tests.support import BACKEND, ROOT, USE_REDIS
from tests.support.processes import DaphneServer, Workers
from tests.support.redis import use_redis
from tests.support.runtime import InProcessWorker
from tests.support.sse import Stream

mysql_proc = mysql_factories.mysql_proc()
redis_proc = redis_factories.redis_proc()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # Schemathesis gives every operation of one test the test's node id. pytest-xdist schedules
        # by node id and would run one operation of the 34: give each its own (the item's name).
        scope, _, last = item.nodeid.rpartition("::")
        if last != item.name:
            item._id = coerce_node_id(f"{scope}::{item.name}")
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


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.mariadb)])
def limiter_backend(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run the test on the rate limiter's in-process fallback (both passes) and on real Redis (MariaDB pass)."""
    if request.param == "redis":
        use_redis(settings, request.getfixturevalue("servers")["redis_url"])
        assert settings.REDIS_URL
    else:
        use_redis(settings, None)
    return str(request.param)


@pytest.fixture
def tenant(db: None) -> Any:
    from tenants.models import Tenant

    return Tenant.objects.create(name="Acme", slug="acme")


@pytest.fixture
def admin_client_(db: None) -> Any:
    """A logged-in superuser of the Django admin."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


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


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    w = Workers(worker_env, tmp_path)
    yield w
    w.stop_all()


@pytest.fixture
def inprocess_worker(transactional_db: None, servers: dict[str, Any]) -> Iterator[Any]:
    worker = InProcessWorker()
    yield worker
    worker.stop()


#: The test daphne's heartbeat, seconds (short, so that streams notice a closed client fast).
STREAM_HEARTBEAT_SECONDS = 1


#: The test daphne's environment. Ids of rows deleted by earlier tests look like transactions in
#: flight to a starting hub: it waits for them 5 s, not the production maximum.
DAPHNE_ENV = {
    "JOBS_SSE_HEARTBEAT_SECONDS": str(STREAM_HEARTBEAT_SECONDS), "JOBS_SSE_REVERIFY_SECONDS": "1",
    "JOBS_API_KEY_CACHE_SECONDS": "0", "JOBS_SSE_GAP_SECONDS": "5", "TEST_CONN_MAX_AGE": "60",
}


@pytest.fixture
def start_daphne(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., DaphneServer]]:
    """``start_daphne(JOBS_KEY="value", …, workers=1)``: a test ``serve`` with more environment; stopped at the end."""
    started: list[DaphneServer] = []

    def start(workers: int = 1, **env: str) -> DaphneServer:
        server = DaphneServer(worker_env, tmp_path / f"daphne-{len(started)}.log", {**DAPHNE_ENV, **env},
                              workers=workers)
        started.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def daphne(start_daphne: Callable[..., DaphneServer]) -> DaphneServer:
    return start_daphne()



@pytest.fixture
def streams() -> Iterator[Callable[..., Stream]]:
    opened: list[Stream] = []

    def open_stream(port: int, path: str, headers: dict[str, str] | None = None) -> Stream:
        s = Stream(port, path, headers)
        opened.append(s)
        s.wait(lambda s: s.status is not None, timeout=30, what=f"the response to {path}")
        return s

    yield open_stream
    for s in opened:
        s.close()
